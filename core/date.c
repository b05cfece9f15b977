/* clearcube: the one calendar module (see core/date.h). */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include "core/date.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cc_date_is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int cc_date_days_in_month(int y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return mdays[m - 1] + (m == 2 && cc_date_is_leap(y));
}

int cc_date_valid(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && d >= 1 && d <= cc_date_days_in_month(y, m);
}

/* H. Hinnant, "chrono-Compatible Low-Level Date Algorithms": eras of 400
 * years (146097 days) counted from 0000-03-01, so that the leap day is the
 * last day of a year; 719468 days from 0000-03-01 to 1970-01-01. */
long cc_date_to_days(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cc_date_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

int cc_date_day_of_year(long days)
{
    int y, m, d;
    cc_date_from_days(days, &y, &m, &d);
    return (int)(days - cc_date_to_days(y, 1, 1)) + 1;
}

/* Exactly n decimal digits at s. */
static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

const char *cc_date_scan(const char *s, int *year, int *month, int *day)
{
    int y, m, d;
    if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || !cc_date_valid(y, m, d))
        return NULL;
    *year = y;
    *month = m;
    *day = d;
    return s + 10;
}

int cc_date_parse_ymd(const char *s, int *year, int *month, int *day)
{
    int y, m, d;
    const char *e = cc_date_scan(s, &y, &m, &d);
    if (!e || *e)
        return 0;
    *year = y;
    *month = m;
    *day = d;
    return 1;
}

int cc_date_parse(const char *s, long *days)
{
    int y, m, d;
    if (!cc_date_parse_ymd(s, &y, &m, &d))
        return 0;
    *days = cc_date_to_days(y, m, d);
    return 1;
}

int cc_date_parse_compact(const char *s, int *year, int *month, int *day)
{
    int y, m, d;
    if (!s || strnlen(s, 8) < 8 || !digits(s, 4, &y) || !digits(s + 4, 2, &m) || !digits(s + 6, 2, &d) ||
        !cc_date_valid(y, m, d))
        return 0;
    *year = y;
    *month = m;
    *day = d;
    return 1;
}

/* "SS[.f+]" at s: the value as strtod reads that text (so "21.026" is the
 * double nearest 21.026, as sscanf's %lf gave), and the end. */
static const char *scan_seconds(const char *s, double *sec)
{
    int whole;
    if (!digits(s, 2, &whole))
        return NULL;
    const char *p = s + 2;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    char buf[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *sec = strtod(buf, NULL);
    return *sec < 61.0 ? p : NULL;
}

const char *cc_date_scan_datetime(const char *s, int need_time, cc_datetime *dt)
{
    cc_datetime t = {0};
    const char *p = cc_date_scan(s, &t.year, &t.month, &t.day);
    if (!p)
        return NULL;
    if (*p != 'T') {
        if (need_time)
            return NULL;
        *dt = t;
        return p;
    }
    p++;
    if (!digits(p, 2, &t.hour) || p[2] != ':' || !digits(p + 3, 2, &t.minute) || t.hour > 23 || t.minute > 59)
        return NULL;
    p += 5;
    if (*p == ':') {
        if (!(p = scan_seconds(p + 1, &t.second)))
            return NULL;
    } else if (need_time) {
        return NULL;
    }
    if (*p == 'Z')
        p++;
    *dt = t;
    return p;
}

double cc_datetime_epoch(const cc_datetime *dt)
{
    return (double)cc_date_to_days(dt->year, dt->month, dt->day) * 86400.0 + dt->hour * 3600.0 +
           dt->minute * 60.0 + dt->second;
}

void cc_date_format(long days, char out[CC_DATE_ISO_SIZE])
{
    int y, m, d;
    cc_date_from_days(days, &y, &m, &d);
    snprintf(out, CC_DATE_ISO_SIZE, "%04d-%02d-%02d", y, m, d);
}

void cc_date_format_compact(long days, char out[CC_DATE_COMPACT_SIZE])
{
    int y, m, d;
    cc_date_from_days(days, &y, &m, &d);
    snprintf(out, CC_DATE_COMPACT_SIZE, "%04d%02d%02d", y, m, d);
}

void cc_date_stamp(time_t t, char *out, size_t n)
{
    struct tm tmv;
    if (n == 0)
        return;
    out[0] = '\0';
    if (gmtime_r(&t, &tmv))
        strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}

time_t cc_date_now_reproducible(void)
{
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde && strspn(sde, "0123456789") == strlen(sde) && strlen(sde) < 18)
        t = (time_t)strtoll(sde, NULL, 10);
    return t;
}
