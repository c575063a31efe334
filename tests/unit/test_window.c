/*
 * test_window.c - the in-flight window (lib/delivery/window.c): per-person
 * order with interleaved persons, no key meaning no order, the settled run
 * of a partition stopping at its first unsettled event but not other
 * partitions', the pending and in-flight bounds, many partitions, a
 * randomized run against a plain model of the two rules, and what a
 * cancellation waits for (an earlier unsettled event of the same person).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "delivery/window.h"

/* The caller's record with the window's entry in it, as partner.c has. */
struct event {
    struct window_entry entry;
    int id;
};

static struct event *event_of(struct window_entry *entry)
{
    return (struct event *)((char *)entry - offsetof(struct event, entry));
}

static const char admission[] = "admission", discharge[] = "discharge";
/* The same name in other memory: topics are compared by their text. */
static const char admission_again[] = "admission";

static uint64_t key_of(const char *person)
{
    return person ? window_key_hash(person, strlen(person)) : 0;
}

static void event_set(struct event *event, int id, const char *topic, int32_t partition,
                      int64_t offset, const char *person)
{
    memset(event, 0, sizeof *event);
    event->id = id;
    event->entry.topic = topic;
    event->entry.partition = partition;
    event->entry.offset = offset;
    event->entry.key_hash = key_of(person);
}

/* Walks the window, leaving states alone; held[i] for the i-th entry. */
static size_t walk_all(struct window *window, int *held, size_t size)
{
    struct window_walk walk;
    struct window_entry *entry;
    size_t n = 0;
    int is_held;
    window_walk_begin(window, &walk);
    while ((entry = window_walk_next(&walk, &is_held)) != NULL) {
        assert_true(n < size);
        held[n++] = is_held;
    }
    return n;
}

static void test_per_person_order(void **state)
{
    (void)state;
    struct window *window = window_new(16, 4);
    assert_non_null(window);
    /* Ann, Bob, Ann, Bob, Cid, Ann, all waiting. */
    static const char *const people[] = {"ann", "bob", "ann", "bob", "cid", "ann"};
    struct event events[6];
    for (int i = 0; i < 6; i++) {
        event_set(&events[i], i, admission, i % 2, i, people[i]);
        assert_int_equal(window_push(window, &events[i].entry), 0);
    }
    int held[8];
    assert_int_equal(walk_all(window, held, 8), 6);
    static const int all_waiting[] = {0, 0, 1, 1, 0, 1};
    assert_memory_equal(held, all_waiting, sizeof all_waiting);

    /* Ann's first in flight still holds her others back; Bob's first being
     * recorded (it reached the partner) lets his second go. */
    assert_int_equal(window_set_state(window, &events[0].entry, WINDOW_IN_FLIGHT), 0);
    assert_int_equal(window_set_state(window, &events[1].entry, WINDOW_RECORDING), 0);
    assert_int_equal(walk_all(window, held, 8), 6);
    static const int some_sent[] = {0, 0, 1, 0, 0, 1};
    assert_memory_equal(held, some_sent, sizeof some_sent);

    /* A state changed during the walk counts for the entries after it: Ann's
     * second is started when given (so her third waits), Bob's second made
     * final at once. */
    assert_int_equal(window_set_state(window, &events[0].entry, WINDOW_RECORDING), 0);
    struct window_walk walk;
    struct window_entry *entry;
    int is_held, n = 0;
    window_walk_begin(window, &walk);
    while ((entry = window_walk_next(&walk, &is_held)) != NULL) {
        int id = event_of(entry)->id;
        assert_int_equal(id, n++); /* consumption order */
        if (id == 2) {
            assert_false(is_held);
            assert_int_equal(window_set_state(window, entry, WINDOW_IN_FLIGHT), 0);
        }
        if (id == 5)
            assert_true(is_held);
    }
    assert_int_equal(n, 6);
    window_destroy(window);
}

static void test_no_key_no_order(void **state)
{
    (void)state;
    struct window *window = window_new(8, 8);
    struct event events[5];
    for (int i = 0; i < 5; i++) {
        event_set(&events[i], i, discharge, 0, i, NULL);
        window_push(window, &events[i].entry);
        if (i < 3)
            assert_int_equal(window_set_state(window, &events[i].entry, WINDOW_IN_FLIGHT), 0);
    }
    int held[8];
    assert_int_equal(walk_all(window, held, 8), 5);
    for (int i = 0; i < 5; i++)
        assert_false(held[i]);
    assert_int_equal(window_in_flight(window), 3);
    while (window_pop(window))
        ;
    assert_int_equal(window_in_flight(window), 0);
    assert_int_equal(window_count(window), 0);
    window_destroy(window);
}

static void test_settled_run_per_partition(void **state)
{
    (void)state;
    struct window *window = window_new(16, 4);
    /* admission/0: 10 S, 11 S, 12 R, 13 S; admission/1: 20 S, 21 S;
     * discharge/0 (same partition number, another topic): 30 W, 31 S.
     * Interleaved in consumption order. */
    struct {
        const char *topic;
        int32_t partition;
        int64_t offset;
        enum window_state state;
    } plan[] = {
        {admission, 0, 10, WINDOW_SETTLED},       {admission, 1, 20, WINDOW_SETTLED},
        {discharge, 0, 30, WINDOW_WAITING},       {admission_again, 0, 11, WINDOW_SETTLED},
        {admission, 0, 12, WINDOW_RECORDING},     {discharge, 0, 31, WINDOW_SETTLED},
        {admission_again, 1, 21, WINDOW_SETTLED}, {admission, 0, 13, WINDOW_SETTLED},
    };
    enum { N = sizeof plan / sizeof plan[0] };
    struct event events[N];
    for (int i = 0; i < N; i++) {
        event_set(&events[i], i, plan[i].topic, plan[i].partition, plan[i].offset, NULL);
        window_push(window, &events[i].entry);
        window_set_state(window, &events[i].entry, plan[i].state);
    }
    size_t taken_count = 0, offset_count = 0;
    struct window_entry *taken = window_settle(window, &taken_count);
    assert_int_equal(taken_count, 4);
    static const int taken_ids[] = {0, 1, 3, 6};
    for (int i = 0; i < 4; i++, taken = taken->next)
        assert_int_equal(event_of(taken)->id, taken_ids[i]);
    assert_null(taken);
    const struct window_offset *offsets = window_offsets(window, &offset_count);
    assert_int_equal(offset_count, 2);
    assert_string_equal(offsets[0].topic, "admission");
    assert_int_equal(offsets[0].partition, 0);
    assert_int_equal(offsets[0].offset, 12); /* 12 is still being recorded */
    assert_string_equal(offsets[1].topic, "admission");
    assert_int_equal(offsets[1].partition, 1);
    assert_int_equal(offsets[1].offset, 22);
    assert_int_equal(window_count(window), 4);
    assert_int_equal(event_of(window_head(window))->id, 2);

    /* Nothing new settled: nothing moves. */
    assert_null(window_settle(window, &taken_count));
    assert_int_equal(taken_count, 0);
    window_offsets(window, &offset_count);
    assert_int_equal(offset_count, 0);

    /* 12 and 30 settle: both partitions run to their ends. */
    window_set_state(window, &events[4].entry, WINDOW_SETTLED);
    window_set_state(window, &events[2].entry, WINDOW_SETTLED);
    taken = window_settle(window, &taken_count);
    assert_int_equal(taken_count, 4);
    offsets = window_offsets(window, &offset_count);
    assert_int_equal(offset_count, 2);
    assert_string_equal(offsets[0].topic, "discharge");
    assert_int_equal(offsets[0].offset, 32);
    assert_string_equal(offsets[1].topic, "admission");
    assert_int_equal(offsets[1].offset, 14);
    assert_int_equal(window_count(window), 0);
    assert_null(window_head(window));
    /* Pushing after the window emptied works from a clean tail. */
    event_set(&events[0], 0, admission, 0, 14, NULL);
    assert_int_equal(window_push(window, &events[0].entry), 0);
    assert_ptr_equal(window_head(window), &events[0].entry);
    window_pop(window);
    window_destroy(window);
}

static void test_bounds(void **state)
{
    (void)state;
    assert_null(window_new(0, 1));
    assert_null(window_new(1, 0));
    struct window *window = window_new(5, 2);
    struct event events[6];
    for (int i = 0; i < 6; i++)
        event_set(&events[i], i, admission, 0, i, "ann");
    for (int i = 0; i < 5; i++) {
        assert_true(window_has_room(window));
        assert_int_equal(window_push(window, &events[i].entry), 0);
    }
    assert_false(window_has_room(window));
    assert_int_equal(window_push(window, &events[5].entry), -1);
    assert_int_equal(window_count(window), 5);

    assert_true(window_may_start(window));
    assert_int_equal(window_set_state(window, &events[0].entry, WINDOW_IN_FLIGHT), 0);
    assert_int_equal(window_set_state(window, &events[1].entry, WINDOW_IN_FLIGHT), 0);
    assert_false(window_may_start(window));
    assert_int_equal(window_set_state(window, &events[2].entry, WINDOW_IN_FLIGHT), -1);
    assert_int_equal(events[2].entry.state, WINDOW_WAITING);
    /* Already in flight: no change, no refusal. */
    assert_int_equal(window_set_state(window, &events[1].entry, WINDOW_IN_FLIGHT), 0);
    assert_int_equal(window_in_flight(window), 2);
    /* A retry goes back to waiting: a slot frees. */
    assert_int_equal(window_set_state(window, &events[1].entry, WINDOW_WAITING), 0);
    assert_true(window_may_start(window));
    assert_int_equal(window_in_flight(window), 1);

    /* Settling frees room. */
    window_set_state(window, &events[0].entry, WINDOW_SETTLED);
    size_t taken_count;
    assert_ptr_equal(window_settle(window, &taken_count), &events[0].entry);
    assert_int_equal(taken_count, 1);
    assert_int_equal(window_in_flight(window), 0);
    assert_true(window_has_room(window));
    assert_int_equal(window_push(window, &events[5].entry), 0);
    while (window_pop(window))
        ;
    window_destroy(window);
}

/* More partitions in view than settling once could follow (256): each
 * moves on its own. */
static void test_many_partitions(void **state)
{
    (void)state;
    enum { PARTITIONS = 600, PER = 3 };
    struct window *window = window_new(PARTITIONS * PER, 8);
    struct event *events = calloc(PARTITIONS * PER, sizeof *events);
    for (int round = 0; round < PER; round++)
        for (int p = 0; p < PARTITIONS; p++) {
            struct event *event = &events[round * PARTITIONS + p];
            event_set(event, round * PARTITIONS + p, p % 2 ? admission : discharge, p / 2,
                      100 + round, NULL);
            window_push(window, &event->entry);
            /* Partitions divisible by 3 have their second event unsettled. */
            int settled = !(p % 3 == 0 && round == 1);
            window_set_state(window, &event->entry, settled ? WINDOW_SETTLED : WINDOW_RECORDING);
        }
    size_t taken_count, offset_count;
    window_settle(window, &taken_count);
    assert_int_equal(taken_count, PARTITIONS * PER - (PARTITIONS / 3) * 2);
    const struct window_offset *offsets = window_offsets(window, &offset_count);
    assert_int_equal(offset_count, PARTITIONS);
    for (size_t i = 0; i < offset_count; i++) {
        int p = offsets[i].partition * 2 + (strcmp(offsets[i].topic, "admission") == 0);
        assert_int_equal(offsets[i].offset, p % 3 == 0 ? 101 : 103);
    }
    assert_int_equal(window_count(window), (PARTITIONS / 3) * 2);
    while (window_pop(window))
        ;
    free(events);
    window_destroy(window);
}

/* ---- randomized, against a model ------------------------------------------ */

enum { MODEL_MAX = 64, MODEL_IN_FLIGHT = 6, MODEL_TOPICS = 2, MODEL_PARTITIONS = 3 };

struct model {
    struct event *order[MODEL_MAX * 4]; /* pending, oldest first */
    size_t count;
    int64_t next_offset[MODEL_TOPICS][MODEL_PARTITIONS];
    int in_flight;
};

static const char *model_topic(int t, unsigned *seed)
{
    /* Either string of the same topic: the window compares text. */
    return t ? discharge : (rand_r(seed) % 2 ? admission : admission_again);
}

/* Whether an earlier pending event of the same person waits or is in flight. */
static int model_held(const struct model *model, size_t index)
{
    uint64_t key = model->order[index]->entry.key_hash;
    for (size_t i = 0; key && i < index; i++) {
        const struct window_entry *earlier = &model->order[i]->entry;
        if (earlier->key_hash == key &&
            (earlier->state == WINDOW_WAITING || earlier->state == WINDOW_IN_FLIGHT))
            return 1;
    }
    return 0;
}

static void model_set_state(struct model *model, struct window *window, struct event *event,
                            enum window_state to)
{
    int was = event->entry.state == WINDOW_IN_FLIGHT, will = to == WINDOW_IN_FLIGHT;
    int refused = will && !was && model->in_flight >= MODEL_IN_FLIGHT;
    assert_int_equal(window_set_state(window, &event->entry, to), refused ? -1 : 0);
    if (!refused)
        model->in_flight += will - was;
    assert_int_equal((int)window_in_flight(window), model->in_flight);
}

static void model_walk(struct model *model, struct window *window, unsigned *seed)
{
    struct window_walk walk;
    struct window_entry *entry;
    size_t index = 0;
    int held;
    window_walk_begin(window, &walk);
    while ((entry = window_walk_next(&walk, &held)) != NULL) {
        assert_true(index < model->count);
        assert_ptr_equal(event_of(entry), model->order[index]);
        assert_int_equal(held, model_held(model, index));
        if (!held && rand_r(seed) % 3 == 0)
            model_set_state(model, window, event_of(entry), (enum window_state)(rand_r(seed) % 4));
        index++;
    }
    assert_int_equal(index, model->count);
}

static void model_settle(struct model *model, struct window *window)
{
    int stopped[MODEL_TOPICS][MODEL_PARTITIONS] = {{0}};
    int64_t expected[MODEL_TOPICS][MODEL_PARTITIONS] = {{0}};
    struct event *kept[MODEL_MAX * 4], *gone[MODEL_MAX * 4];
    size_t kept_count = 0, gone_count = 0;
    for (size_t i = 0; i < model->count; i++) {
        struct event *event = model->order[i];
        int t = strcmp(event->entry.topic, "discharge") == 0, p = event->entry.partition;
        if (event->entry.state == WINDOW_SETTLED && !stopped[t][p]) {
            gone[gone_count++] = event;
            expected[t][p] = event->entry.offset + 1;
        } else {
            stopped[t][p] = 1;
            kept[kept_count++] = event;
        }
    }
    size_t taken_count, offset_count;
    struct window_entry *taken = window_settle(window, &taken_count);
    assert_int_equal(taken_count, gone_count);
    for (size_t i = 0; i < gone_count; i++, taken = taken->next)
        assert_ptr_equal(event_of(taken), gone[i]);
    assert_null(taken);
    const struct window_offset *offsets = window_offsets(window, &offset_count);
    size_t moved = 0;
    for (int t = 0; t < MODEL_TOPICS; t++)
        for (int p = 0; p < MODEL_PARTITIONS; p++)
            moved += expected[t][p] != 0;
    assert_int_equal(offset_count, moved);
    for (size_t i = 0; i < offset_count; i++) {
        int t = strcmp(offsets[i].topic, "discharge") == 0;
        assert_int_equal(offsets[i].offset, expected[t][offsets[i].partition]);
    }
    for (size_t i = 0; i < gone_count; i++)
        free(gone[i]);
    memcpy(model->order, kept, kept_count * sizeof *kept);
    model->count = kept_count;
    assert_int_equal(window_count(window), model->count);
}

static void test_randomized_against_model(void **state)
{
    (void)state;
    static const char *const people[] = {"ann", "bob", "cid", "dee", NULL};
    for (unsigned run = 0; run < 40; run++) {
        unsigned seed = 12345 + run;
        struct model model = {.count = 0};
        struct window *window = window_new(MODEL_MAX, MODEL_IN_FLIGHT);
        int id = 0;
        for (int step = 0; step < 600; step++) {
            int action = rand_r(&seed) % 10;
            if (action < 4) {
                struct event *event = calloc(1, sizeof *event);
                int t = rand_r(&seed) % MODEL_TOPICS, p = rand_r(&seed) % MODEL_PARTITIONS;
                event_set(event, id++, model_topic(t, &seed), p, model.next_offset[t][p],
                          people[rand_r(&seed) % 5]);
                int full = model.count >= MODEL_MAX;
                assert_int_equal(window_push(window, &event->entry), full ? -1 : 0);
                if (full) {
                    free(event);
                    continue;
                }
                model.next_offset[t][p]++;
                model.order[model.count++] = event;
            } else if (action < 7 && model.count) {
                struct event *event = model.order[rand_r(&seed) % model.count];
                model_set_state(&model, window, event, (enum window_state)(rand_r(&seed) % 4));
            } else if (action < 9) {
                model_walk(&model, window, &seed);
            } else {
                model_settle(&model, window);
            }
        }
        struct window_entry *entry;
        while ((entry = window_pop(window)) != NULL)
            free(event_of(entry));
        window_destroy(window);
    }
}

/* What a cancellation waits for: an earlier event of the same person that
 * is not settled yet, whatever else it is. */
static void test_earlier_unsettled(void **state)
{
    (void)state;
    struct window *window = window_new(8, 4);
    /* Ann, (no key), Bob, Ann, (no key), Ann: consumption order. */
    static const char *const people[] = {"ann", NULL, "bob", "ann", NULL, "ann"};
    struct event events[6];
    for (int i = 0; i < 6; i++) {
        event_set(&events[i], i, admission, i % 2, i, people[i]);
        assert_int_equal(window_push(window, &events[i].entry), 0);
    }
    struct window_entry *first = &events[0].entry, *again = &events[3].entry;

    /* Ann's first holds her second back until it is settled. */
    assert_int_equal(window_earlier_unsettled(window, again), 1); /* waiting */
    assert_int_equal(window_set_state(window, first, WINDOW_IN_FLIGHT), 0);
    assert_int_equal(window_earlier_unsettled(window, again), 1);
    assert_int_equal(window_set_state(window, first, WINDOW_RECORDING), 0);
    assert_int_equal(window_earlier_unsettled(window, again), 1);
    assert_int_equal(window_set_state(window, first, WINDOW_SETTLED), 0);
    assert_int_equal(window_earlier_unsettled(window, again), 0);

    /* Her third: the first is settled, the second (waiting) still counts. */
    assert_int_equal(window_earlier_unsettled(window, &events[5].entry), 1);
    assert_int_equal(window_set_state(window, again, WINDOW_SETTLED), 0);
    assert_int_equal(window_earlier_unsettled(window, &events[5].entry), 0);

    /* The first of a person, with a later one of hers unsettled: nothing
     * earlier. Bob's only event, after Ann's unsettled third: another key. */
    assert_int_equal(window_set_state(window, first, WINDOW_WAITING), 0);
    assert_int_equal(window_earlier_unsettled(window, first), 0);
    assert_int_equal(window_earlier_unsettled(window, &events[2].entry), 0);

    /* No key: never held, though an earlier event without a key waits. */
    assert_int_equal(events[1].entry.state, WINDOW_WAITING);
    assert_int_equal(window_earlier_unsettled(window, &events[4].entry), 0);

    while (window_pop(window))
        ;
    window_destroy(window);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_person_order),
        cmocka_unit_test(test_no_key_no_order),
        cmocka_unit_test(test_settled_run_per_partition),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_many_partitions),
        cmocka_unit_test(test_randomized_against_model),
        cmocka_unit_test(test_earlier_unsettled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
