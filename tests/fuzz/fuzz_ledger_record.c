/*
 * fuzz_ledger_record.c - the disclosure ledger's reader of audit records
 * (lib/governance/ledger_record.c): whatever the scanner reads itself, the
 * general reader (jansson) must read too, to the same members and values;
 * and ledger_record_parse must never fail where jansson reads an object.
 * The audit topic is the hub's own, but anyone with write access to the
 * broker can put bytes on it, and a difference between the two readers
 * would make the ledger depend on which one read a record.
 */
#include <stdint.h>
#include <stdlib.h>

#include "governance/ledger_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct ledger_record scanned, tree, parsed;
    int scan = ledger_record_scan(text, size, &scanned);
    int read = ledger_record_read_tree(text, size, &tree);
    if (scan == 0 && (read != 0 || !ledger_record_equal(&scanned, &tree)))
        abort(); /* the scanner read what jansson reads otherwise, or not at all */
    int parse = ledger_record_parse(text, size, &parsed);
    if (parse != read || (parse == 0 && !ledger_record_equal(&parsed, &tree)))
        abort();
    ledger_record_clear(&tree);
    ledger_record_clear(&parsed);
    return 0;
}
