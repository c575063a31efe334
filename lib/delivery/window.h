/*
 * window.h - a partner's in-flight window: the events consumed and not yet
 * settled, in consumption order, and the two rules that keep delivery safe:
 *
 *   - per-person order: an event waits while an earlier unsettled event with
 *     the same person key is still waiting or in flight (one being recorded
 *     has reached the partner already); events without a key are not
 *     ordered;
 *   - settling: a partition's offset may move only over a contiguous run of
 *     settled events at that partition's head; the first unsettled event of
 *     a partition holds back the later ones of that partition, not of
 *     others.
 *
 * It bounds how many events are pending (max_pending) and in flight
 * (max_in_flight). It knows nothing of curl or librdkafka: an entry carries
 * the event's coordinates, its key hash and its state; the caller embeds
 * struct window_entry in its own record (the payload is the caller's) and
 * frees that record when the window gives the entry back.
 */
#ifndef PLACEHUB_WINDOW_H
#define PLACEHUB_WINDOW_H

#include <stddef.h>
#include <stdint.h>

enum window_state {
    WINDOW_WAITING,   /* to be attempted (or decoded) */
    WINDOW_IN_FLIGHT, /* an attempt is running */
    WINDOW_RECORDING, /* final; its records are being written */
    WINDOW_SETTLED    /* final and recorded: its offset may be stored */
};

struct window_entry {
    struct window_entry *next; /* the window's: the next in consumption order */
    const char *topic;         /* borrowed: must outlive the entry */
    int32_t partition;
    int64_t offset;
    uint64_t key_hash;       /* window_key_hash of the person key; 0: no key, no ordering */
    enum window_state state; /* the window's: change it with window_set_state */
};

/* The next offset to consume of one partition, the end of its settled run. */
struct window_offset {
    const char *topic; /* the entries' string */
    int32_t partition;
    int64_t offset; /* the last settled event's offset + 1 */
};

struct window;

/* A window for at most max_pending events (1 or more), at most
 * max_in_flight (1 or more) of them in flight. NULL when out of memory.
 * window_destroy frees the window only: take the entries out first
 * (window_pop). */
struct window *window_new(size_t max_pending, size_t max_in_flight);
void window_destroy(struct window *window);

/* The hash of a person key for window_entry.key_hash (FNV-1a, never 0). A
 * collision between two people only makes their events wait for each
 * other: order is never broken. */
uint64_t window_key_hash(const void *key, size_t len);

/* Events pending and in flight. */
size_t window_count(const struct window *window);
size_t window_in_flight(const struct window *window);

/* 1 while fewer than max_pending events are pending. */
int window_has_room(const struct window *window);

/* 1 while fewer than max_in_flight events are in flight. */
int window_may_start(const struct window *window);

/* Appends entry (its topic, partition, offset and key_hash filled) as the
 * newest, waiting. Returns 0, or -1 when the window is full (entry is left
 * alone). The entry stays the caller's memory; the window links it until
 * it gives it back. */
int window_push(struct window *window, struct window_entry *entry);

/* Moves entry to state, keeping the in-flight count. Returns -1 (and
 * changes nothing) when that would pass max_in_flight, else 0. */
int window_set_state(struct window *window, struct window_entry *entry, enum window_state state);

/* The oldest entry (then follow ->next), or NULL. Borrowed. */
struct window_entry *window_head(const struct window *window);

/* Takes the oldest entry out, whatever its state (for tear-down: nothing is
 * settled). NULL when empty. */
struct window_entry *window_pop(struct window *window);

/* Walks the entries in consumption order, saying of each whether an earlier
 * one of the same person holds it back. The caller may change the state of
 * the entry it was given (start it, make it final) before asking for the
 * next: the rule looks at the state an earlier entry had when the walk left
 * it. One walk at a time per window; no push, pop or settle during it. */
struct window_walk {
    struct window *window;
    struct window_entry *entry;    /* the one given last */
    struct window_entry *upcoming; /* the one to give next */
    int entry_held;
};

void window_walk_begin(struct window *window, struct window_walk *walk);

/* The next entry, or NULL at the end; *held is 1 when an earlier unsettled
 * event with the same key is waiting or in flight (it must not start). */
struct window_entry *window_walk_next(struct window_walk *walk, int *held);

/* 1 when an entry before entry has the same person key and is not settled
 * (waiting, in flight, or still being recorded): what a cancellation waits
 * for, since it is judged by the original's acknowledged records. 0 for an
 * entry without a key. Reads only: may be called during a walk. */
int window_earlier_unsettled(const struct window *window, const struct window_entry *entry);

/* Takes out every settled entry at the head of its partition (the
 * contiguous run before that partition's first unsettled one) and returns
 * them, linked by ->next in consumption order (NULL: none), *taken their
 * number. They are the caller's again: store the offsets (window_offsets)
 * first, then free them - the offsets' topics are the entries' strings. */
struct window_entry *window_settle(struct window *window, size_t *taken);

/* The offsets the last window_settle moved, one per partition (*count of
 * them; 0 when it took nothing out). Borrowed, valid until the next
 * window_settle and while the entries it took out live. */
const struct window_offset *window_offsets(const struct window *window, size_t *count);

#endif
