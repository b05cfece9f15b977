/* clearcube: the one calendar module (proleptic Gregorian, UTC).
 *
 * Every date in the code is either y/m/d or "days since 1970-01-01" (the
 * cubes' time axis, CF units "days since 1970-01-01 00:00:00"). On disk and
 * on the command line dates are ISO "YYYY-MM-DD"; product names use the
 * compact "YYYYMMDD"; metadata times are "YYYY-MM-DDTHH:MM:SS[.fff][Z]".
 * The parsers are strict: exactly 4-2-2 digits and a real calendar day
 * (2021-02-30 is rejected, not rolled over to March), so a typo is an error
 * instead of a silently different day. They return 1/0 (or a pointer/NULL)
 * and set no error: the caller names the file or option in its message. */
#ifndef CC_CORE_DATE_H
#define CC_CORE_DATE_H

#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CC_DATE_ISO_SIZE 11     /* "YYYY-MM-DD" + NUL               */
#define CC_DATE_COMPACT_SIZE 9  /* "YYYYMMDD" + NUL                 */
#define CC_DATE_STAMP_SIZE 21   /* "YYYY-MM-DDTHH:MM:SSZ" + NUL     */
#define CC_DATE_CF_UNITS "days since 1970-01-01 00:00:00"

int cc_date_is_leap(int year);
/* 28..31; 0 when month is not 1..12. */
int cc_date_days_in_month(int year, int month);
/* 1 if year 1..9999, month 1..12 and day within that month. */
int cc_date_valid(int year, int month, int day);

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * algorithm, exact for any year) and back. */
long cc_date_to_days(int year, int month, int day);
void cc_date_from_days(long days, int *year, int *month, int *day);
/* Day of the year, 1..366. */
int cc_date_day_of_year(long days);

/* Reads "YYYY-MM-DD" at the start of s; returns the character after it, or
 * NULL when s does not start with a valid date. */
const char *cc_date_scan(const char *s, int *year, int *month, int *day);
/* The whole string is "YYYY-MM-DD": 1 and the date, else 0. */
int cc_date_parse_ymd(const char *s, int *year, int *month, int *day);
int cc_date_parse(const char *s, long *days);
/* The first 8 characters of s are a valid "YYYYMMDD" (product names). */
int cc_date_parse_compact(const char *s, int *year, int *month, int *day);

/* A UTC date and time of day; second holds "SS[.fff]" as strtod reads it. */
typedef struct {
    int year, month, day, hour, minute;
    double second;
} cc_datetime;

/* Reads "YYYY-MM-DDTHH:MM:SS[.f+][Z]" at the start of s (with need_time 0,
 * also "YYYY-MM-DD" and "YYYY-MM-DDTHH:MM[Z]", the rest 0); returns the
 * character after it (after the 'Z' if any) or NULL. Hours 0..23, minutes
 * 0..59, seconds [0, 61) (a leap second). */
const char *cc_date_scan_datetime(const char *s, int need_time, cc_datetime *dt);
/* Seconds since the epoch: days*86400 + hour*3600 + minute*60 + second. */
double cc_datetime_epoch(const cc_datetime *dt);

/* "YYYY-MM-DD" / "YYYYMMDD" of a day. */
void cc_date_format(long days, char out[CC_DATE_ISO_SIZE]);
void cc_date_format_compact(long days, char out[CC_DATE_COMPACT_SIZE]);
/* "YYYY-MM-DDTHH:MM:SSZ" of t (UTC); "" when t is out of range. */
void cc_date_stamp(time_t t, char *out, size_t n);
/* Now, or SOURCE_DATE_EPOCH (seconds, the reproducible-builds convention)
 * when set to digits: `clearcube run` sets it to the job's submission time
 * so that cubes are bit-identical across reruns and rank counts. */
time_t cc_date_now_reproducible(void);

#ifdef __cplusplus
}
#endif
#endif
