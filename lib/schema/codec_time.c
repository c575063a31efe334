/*
 * codec_time.c - the codec's conversions of dates (days since 1970-01-01),
 * timestamps (milliseconds since the epoch, UTC) and uuids to and from
 * their text forms (see codec.h). Pure functions: no allocation, no state.
 */
#include "schema/codec.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

/* Days from 1970-01-01 to a proleptic Gregorian date (era-based arithmetic,
 * valid for any year representable here). */
static int64_t codec_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int codec_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Reads exactly count digits at *text into *value and advances. */
static int codec_digits(const char **text, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)(*text)[i]))
            return -1;
        *value = *value * 10 + ((*text)[i] - '0');
    }
    *text += count;
    return 0;
}

static int codec_date_prefix(const char **text, int64_t *days)
{
    int year, month, day;
    if (codec_digits(text, 4, &year) != 0 || *(*text)++ != '-' ||
        codec_digits(text, 2, &month) != 0 || *(*text)++ != '-' || codec_digits(text, 2, &day) != 0)
        return -1;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > codec_days_in_month(year, month))
        return -1;
    *days = codec_days_from_civil(year, month, day);
    return 0;
}

int codec_date_parse(const char *text, int32_t *days)
{
    int64_t value;
    if (codec_date_prefix(&text, &value) != 0 || *text != '\0')
        return -1;
    *days = (int32_t)value;
    return 0;
}

int codec_timestamp_parse(const char *text, int64_t *millis)
{
    int64_t days;
    int hour, minute, second, fraction = 0;
    if (codec_date_prefix(&text, &days) != 0)
        return -1;
    if (*text != 'T' && *text != 't')
        return -1;
    text++;
    if (codec_digits(&text, 2, &hour) != 0 || *text++ != ':' ||
        codec_digits(&text, 2, &minute) != 0 || *text++ != ':' ||
        codec_digits(&text, 2, &second) != 0)
        return -1;
    if (hour > 23 || minute > 59 || second > 60)
        return -1;
    if (*text == '.') {
        text++;
        int count = 0;
        while (isdigit((unsigned char)*text)) {
            if (count < 3)
                fraction = fraction * 10 + (*text - '0');
            count++;
            text++;
        }
        if (count == 0 || count > 9)
            return -1;
        for (; count < 3; count++)
            fraction *= 10;
    }
    int offset_minutes = 0;
    if (*text == 'Z' || *text == 'z') {
        text++;
    } else if (*text == '+' || *text == '-') {
        int sign = *text++ == '-' ? -1 : 1, offset_hour, offset_minute;
        if (codec_digits(&text, 2, &offset_hour) != 0 || *text++ != ':' ||
            codec_digits(&text, 2, &offset_minute) != 0 || offset_hour > 23 || offset_minute > 59)
            return -1;
        offset_minutes = sign * (offset_hour * 60 + offset_minute);
    } else {
        return -1; /* a time without an offset is ambiguous: refuse it */
    }
    if (*text != '\0')
        return -1;
    if (second == 60)
        second = 59; /* leap second: Avro and Unix time have no such second */
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    *millis = seconds * 1000 + fraction;
    return 0;
}

static void codec_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

void codec_date_format(int32_t days, char *out, size_t out_size)
{
    int64_t year;
    int month, day;
    codec_civil_from_days(days, &year, &month, &day);
    snprintf(out, out_size, "%04" PRId64 "-%02d-%02d", year, month, day);
}

void codec_timestamp_format(int64_t millis, char *out, size_t out_size)
{
    int64_t days = millis / 86400000, rest = millis % 86400000;
    if (rest < 0) {
        rest += 86400000;
        days--;
    }
    int64_t year;
    int month, day;
    codec_civil_from_days(days, &year, &month, &day);
    snprintf(out, out_size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day,
             (int)(rest / 3600000), (int)(rest / 60000 % 60), (int)(rest / 1000 % 60),
             (int)(rest % 1000));
}

int codec_uuid_valid(const char *text)
{
    for (int i = 0; i < 36; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!isxdigit((unsigned char)c)) {
            return 0;
        }
    }
    return text[36] == '\0';
}
