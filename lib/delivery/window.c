/*
 * window.c - a partner's in-flight window (see window.h): the pending list,
 * per-person order and the settled-run rule for offsets.
 *
 * Both rules use open-addressing tables of at least twice as many slots as
 * there can be pending events (so never more than half full), allocated
 * once; only the slots a turn used are cleared after it, so a large window
 * costs nothing per turn while it is nearly empty.
 */
#include "delivery/window.h"

#include <stdlib.h>
#include <string.h>

/* A partition seen during one window_settle. */
struct window_partition {
    const char *topic; /* NULL: a free slot */
    int32_t partition;
    int held;            /* an unsettled event of it was seen: no more taken out */
    size_t offset_index; /* in offsets; SIZE_MAX: none moved yet */
};

struct window {
    struct window_entry *head, *tail;
    size_t count, in_flight;
    size_t max_pending, max_in_flight;
    size_t slots; /* of each table: a power of two, at least 2 * max_pending */
    /* person keys holding later events back, during a walk */
    uint64_t *keys;
    size_t *keys_used;
    size_t keys_used_count;
    /* partitions, during a settle */
    struct window_partition *partitions;
    size_t *partitions_used;
    size_t partitions_used_count;
    struct window_offset *offsets;
    size_t offset_count;
};

struct window *window_new(size_t max_pending, size_t max_in_flight)
{
    if (max_pending == 0 || max_in_flight == 0 || max_pending > SIZE_MAX / 4)
        return NULL;
    struct window *window = calloc(1, sizeof *window);
    if (!window)
        return NULL;
    window->max_pending = max_pending;
    window->max_in_flight = max_in_flight;
    window->slots = 1;
    while (window->slots < max_pending * 2)
        window->slots *= 2;
    window->keys = calloc(window->slots, sizeof *window->keys);
    window->keys_used = calloc(max_pending, sizeof *window->keys_used);
    window->partitions = calloc(window->slots, sizeof *window->partitions);
    window->partitions_used = calloc(max_pending, sizeof *window->partitions_used);
    window->offsets = calloc(max_pending, sizeof *window->offsets);
    if (!window->keys || !window->keys_used || !window->partitions || !window->partitions_used ||
        !window->offsets) {
        window_destroy(window);
        return NULL;
    }
    return window;
}

void window_destroy(struct window *window)
{
    if (!window)
        return;
    free(window->keys);
    free(window->keys_used);
    free(window->partitions);
    free(window->partitions_used);
    free(window->offsets);
    free(window);
}

uint64_t window_key_hash(const void *key, size_t len)
{
    /* FNV-1a; 0 is kept for "no key". */
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ ((const unsigned char *)key)[i]) * 1099511628211ULL;
    return hash ? hash : 1;
}

size_t window_count(const struct window *window)
{
    return window->count;
}

size_t window_in_flight(const struct window *window)
{
    return window->in_flight;
}

int window_has_room(const struct window *window)
{
    return window->count < window->max_pending;
}

int window_may_start(const struct window *window)
{
    return window->in_flight < window->max_in_flight;
}

int window_push(struct window *window, struct window_entry *entry)
{
    if (!window_has_room(window))
        return -1;
    entry->next = NULL;
    entry->state = WINDOW_WAITING;
    if (window->tail)
        window->tail->next = entry;
    else
        window->head = entry;
    window->tail = entry;
    window->count++;
    return 0;
}

int window_set_state(struct window *window, struct window_entry *entry, enum window_state state)
{
    int was = entry->state == WINDOW_IN_FLIGHT, will = state == WINDOW_IN_FLIGHT;
    if (will && !was && !window_may_start(window))
        return -1;
    window->in_flight += (size_t)will;
    window->in_flight -= (size_t)was;
    entry->state = state;
    return 0;
}

struct window_entry *window_head(const struct window *window)
{
    return window->head;
}

struct window_entry *window_pop(struct window *window)
{
    struct window_entry *entry = window->head;
    if (!entry)
        return NULL;
    window->head = entry->next;
    if (!window->head)
        window->tail = NULL;
    window->count--;
    if (entry->state == WINDOW_IN_FLIGHT)
        window->in_flight--;
    entry->next = NULL;
    return entry;
}

/* ---- per-person order ---------------------------------------------------- */

/* The slot of key_hash: where it is, or the free one where it would go. */
static size_t window_key_slot(const struct window *window, uint64_t key_hash)
{
    size_t mask = window->slots - 1, slot = (size_t)key_hash & mask;
    while (window->keys[slot] && window->keys[slot] != key_hash)
        slot = (slot + 1) & mask;
    return slot;
}

void window_walk_begin(struct window *window, struct window_walk *walk)
{
    for (size_t i = 0; i < window->keys_used_count; i++)
        window->keys[window->keys_used[i]] = 0;
    window->keys_used_count = 0;
    *walk = (struct window_walk){.window = window, .upcoming = window->head};
}

struct window_entry *window_walk_next(struct window_walk *walk, int *held)
{
    struct window *window = walk->window;
    struct window_entry *given = walk->entry;
    /* Only an event still on its way to the partner holds the next of the
     * same person back; one being recorded has arrived already. A held one
     * adds nothing: its key is there. */
    if (given && given->key_hash && !walk->entry_held &&
        (given->state == WINDOW_WAITING || given->state == WINDOW_IN_FLIGHT)) {
        size_t slot = window_key_slot(window, given->key_hash);
        if (!window->keys[slot]) {
            window->keys[slot] = given->key_hash;
            window->keys_used[window->keys_used_count++] = slot;
        }
    }
    struct window_entry *entry = walk->upcoming;
    walk->entry = entry;
    if (!entry)
        return NULL;
    walk->upcoming = entry->next;
    walk->entry_held =
        entry->key_hash && window->keys[window_key_slot(window, entry->key_hash)] != 0;
    *held = walk->entry_held;
    return entry;
}

/* ---- settling ------------------------------------------------------------ */

static int window_same_topic(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

/* The partition of entry in this settle's table, added when new. */
static struct window_partition *window_partition_of(struct window *window,
                                                    const struct window_entry *entry)
{
    uint64_t hash = window_key_hash(entry->topic, strlen(entry->topic));
    hash = (hash ^ (uint32_t)entry->partition) * 1099511628211ULL;
    size_t mask = window->slots - 1, slot = (size_t)hash & mask;
    struct window_partition *partition;
    while ((partition = &window->partitions[slot])->topic &&
           !(partition->partition == entry->partition &&
             window_same_topic(partition->topic, entry->topic)))
        slot = (slot + 1) & mask;
    if (!partition->topic) {
        *partition = (struct window_partition){
            .topic = entry->topic, .partition = entry->partition, .offset_index = SIZE_MAX};
        window->partitions_used[window->partitions_used_count++] = slot;
    }
    return partition;
}

/* Unlinks entry (after previous, or the head) and appends it to the list
 * ending at *taken_tail. */
static void window_take(struct window *window, struct window_entry *previous,
                        struct window_entry *entry, struct window_entry ***taken_tail)
{
    if (previous)
        previous->next = entry->next;
    else
        window->head = entry->next;
    if (window->tail == entry)
        window->tail = previous;
    window->count--;
    entry->next = NULL;
    **taken_tail = entry;
    *taken_tail = &entry->next;
}

struct window_entry *window_settle(struct window *window, size_t *taken)
{
    struct window_entry *taken_head = NULL, **taken_tail = &taken_head;
    for (size_t i = 0; i < window->partitions_used_count; i++)
        window->partitions[window->partitions_used[i]].topic = NULL;
    window->partitions_used_count = 0;
    window->offset_count = 0;
    *taken = 0;
    struct window_entry *previous = NULL, *entry = window->head;
    while (entry) {
        struct window_entry *next = entry->next;
        struct window_partition *partition = window_partition_of(window, entry);
        if (entry->state != WINDOW_SETTLED || partition->held) {
            /* IMPORTANT: nothing after an unsettled event of a partition is
             * taken out: its offset must not move past that event. */
            partition->held = 1;
            previous = entry;
            entry = next;
            continue;
        }
        if (partition->offset_index == SIZE_MAX) {
            partition->offset_index = window->offset_count++;
            window->offsets[partition->offset_index] =
                (struct window_offset){.topic = entry->topic, .partition = entry->partition};
        }
        window->offsets[partition->offset_index].offset = entry->offset + 1;
        window_take(window, previous, entry, &taken_tail);
        (*taken)++;
        entry = next;
    }
    return taken_head;
}

const struct window_offset *window_offsets(const struct window *window, size_t *count)
{
    *count = window->offset_count;
    return window->offsets;
}

int window_earlier_unsettled(const struct window *window, const struct window_entry *entry)
{
    if (!entry->key_hash)
        return 0;
    for (const struct window_entry *earlier = window->head; earlier && earlier != entry;
         earlier = earlier->next)
        if (earlier->key_hash == entry->key_hash && earlier->state != WINDOW_SETTLED)
            return 1;
    return 0;
}
