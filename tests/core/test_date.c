/* core/date: calendar arithmetic, the strict parsers and the formatters. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "core/date.h"
#include "core/error.h"
#include "testutil.h"

/* Reference day count by plain iteration over the calendar. */
static long slow_days(int y, int m, int d)
{
    long n = 0;
    if (y >= 1970) {
        for (int yy = 1970; yy < y; yy++)
            n += 365 + cc_date_is_leap(yy);
    } else {
        for (int yy = y; yy < 1970; yy++)
            n -= 365 + cc_date_is_leap(yy);
    }
    for (int mm = 1; mm < m; mm++)
        n += cc_date_days_in_month(y, mm);
    return n + d - 1;
}

static void test_calendar(void)
{
    CHECK(cc_date_to_days(1970, 1, 1) == 0);
    CHECK(cc_date_to_days(1969, 12, 31) == -1);
    CHECK(cc_date_to_days(2000, 3, 1) == 11017);
    CHECK(cc_date_to_days(2015, 8, 4) == 16651);
    CHECK(cc_date_is_leap(2000) && cc_date_is_leap(2024) && !cc_date_is_leap(1900) && !cc_date_is_leap(2023));
    CHECK(cc_date_days_in_month(2024, 2) == 29 && cc_date_days_in_month(2023, 2) == 28);
    CHECK(cc_date_days_in_month(2100, 2) == 28 && cc_date_days_in_month(2000, 2) == 29);
    CHECK(cc_date_days_in_month(2023, 13) == 0 && cc_date_days_in_month(2023, 0) == 0);
    CHECK(cc_date_valid(2024, 2, 29) && !cc_date_valid(2023, 2, 29) && !cc_date_valid(2023, 4, 31));
    CHECK(!cc_date_valid(0, 1, 1) && !cc_date_valid(10000, 1, 1) && !cc_date_valid(2023, 1, 0));
    /* every day of 1890..2110 against the slow count, and back */
    long prev = cc_date_to_days(1889, 12, 31);
    int bad = 0;
    for (int y = 1890; y <= 2110; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= cc_date_days_in_month(y, m); d++) {
                long n = cc_date_to_days(y, m, d);
                int yy, mm, dd;
                cc_date_from_days(n, &yy, &mm, &dd);
                bad += n != prev + 1 || n != slow_days(y, m, d) || yy != y || mm != m || dd != d;
                bad += cc_date_day_of_year(n) != (int)(n - cc_date_to_days(y, 1, 1)) + 1;
                prev = n;
            }
    CHECK(bad == 0);
    CHECK(cc_date_day_of_year(cc_date_to_days(2024, 12, 31)) == 366);
    CHECK(cc_date_day_of_year(cc_date_to_days(2023, 12, 31)) == 365);
    CHECK(cc_date_day_of_year(cc_date_to_days(2008, 4, 27)) == 118);
    /* far from the epoch (the era arithmetic for negative days) */
    int y, m, d;
    cc_date_from_days(cc_date_to_days(1, 1, 1), &y, &m, &d);
    CHECK(y == 1 && m == 1 && d == 1);
    cc_date_from_days(cc_date_to_days(9999, 12, 31), &y, &m, &d);
    CHECK(y == 9999 && m == 12 && d == 31);
}

static void test_parse(void)
{
    int y = 0, m = 0, d = 0;
    long n = -7;
    CHECK(cc_date_parse_ymd("2024-02-29", &y, &m, &d) && y == 2024 && m == 2 && d == 29);
    CHECK(cc_date_parse("2017-03-01", &n) && n == cc_date_to_days(2017, 3, 1));
    /* rejected: not a calendar day, not zero-padded, trailing text, junk */
    static const char *bad[] = {"2023-02-29", "2021-02-30", "2021-04-31", "2021-13-01", "2021-00-10",
                                "2021-01-00", "2021-1-5",   "21-01-05",   "2021-01-05x", "2021-01-05 ",
                                " 2021-01-05", "+2021-01-05", "2021/01/05", "20210105",  "",
                                "0000-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = -7;
        int ok = cc_date_parse(bad[i], &n);
        if (ok)
            fprintf(stderr, "accepted '%s'\n", bad[i]);
        CHECK(!ok && n == -7);
    }
    CHECK(!cc_date_parse(NULL, &n));
    /* scan: a prefix */
    const char *e = cc_date_scan("2017-02-16T10:21:01", &y, &m, &d);
    CHECK(e && *e == 'T' && y == 2017 && m == 2 && d == 16);
    CHECK(cc_date_scan("2017-02-3", &y, &m, &d) == NULL);
    /* compact (product names): first 8 characters */
    CHECK(cc_date_parse_compact("20170301T103021", &y, &m, &d) && y == 2017 && m == 3 && d == 1);
    CHECK(!cc_date_parse_compact("20170230", &y, &m, &d) && !cc_date_parse_compact("2017030", &y, &m, &d));
    CHECK(!cc_date_parse_compact("2017-03-01", &y, &m, &d));
}

static void test_datetime(void)
{
    cc_datetime t;
    const char *e = cc_date_scan_datetime("2017-03-01T10:30:21.026Z", 1, &t);
    CHECK(e && *e == '\0' && t.hour == 10 && t.minute == 30 && t.second == 21.026);
    CHECK_NEAR(cc_datetime_epoch(&t), 1488364221.026, 1e-6);
    /* the same double as sscanf's %lf gave (strtod of the seconds' text) */
    double ss = 0;
    sscanf("42.871103", "%lf", &ss);
    e = cc_date_scan_datetime("2017-03-13T11:03:42.871103", 1, &t);
    CHECK(e && *e == '\0' && t.second == ss);
    CHECK(cc_datetime_epoch(&t) == (double)cc_date_to_days(2017, 3, 13) * 86400.0 + 11 * 3600.0 + 3 * 60.0 + ss);
    /* need_time 0: date only or minutes only */
    e = cc_date_scan_datetime("2017-02-16", 0, &t);
    CHECK(e && *e == '\0' && t.hour == 0 && t.second == 0.0);
    CHECK(cc_datetime_epoch(&t) == 1487203200.0);
    e = cc_date_scan_datetime("2017-02-16T10:21Z", 0, &t);
    CHECK(e && *e == '\0' && t.hour == 10 && t.minute == 21 && t.second == 0.0);
    CHECK(cc_date_scan_datetime("2017-02-16", 1, &t) == NULL);
    CHECK(cc_date_scan_datetime("2017-02-16T10:21", 1, &t) == NULL);
    /* the rest is left to the caller */
    e = cc_date_scan_datetime("2017-06-13T16:50:43.123456+01", 1, &t);
    CHECK(e && !strcmp(e, "+01"));
    /* bad fields */
    static const char *bad[] = {"2017-06-13T24:00:00", "2017-06-13T10:60:00", "2017-06-13T10:00:61",
                                "2017-06-13T10:00:5",  "2017-06-13T10:00:05.", "2017-02-29T10:00:00",
                                "2017-06-13T1:00:00",  "2017-06-13 10:00:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(cc_date_scan_datetime(bad[i], 1, &t) == NULL);
    e = cc_date_scan_datetime("2016-12-31T23:59:60.5Z", 1, &t); /* a leap second */
    CHECK(e && *e == '\0' && t.second == 60.5);
}

static void test_format(void)
{
    char iso[CC_DATE_ISO_SIZE], compact[CC_DATE_COMPACT_SIZE], stamp[CC_DATE_STAMP_SIZE];
    cc_date_format(cc_date_to_days(2008, 4, 27), iso);
    CHECK(!strcmp(iso, "2008-04-27"));
    cc_date_format(-1, iso);
    CHECK(!strcmp(iso, "1969-12-31"));
    cc_date_format_compact(cc_date_to_days(2017, 3, 1), compact);
    CHECK(!strcmp(compact, "20170301"));
    /* round trip through the text */
    for (long n = -1000; n < 40000; n += 37) {
        long back = -1;
        cc_date_format(n, iso);
        CHECK(cc_date_parse(iso, &back) && back == n);
    }
    cc_date_stamp((time_t)1488364221, stamp, sizeof stamp);
    CHECK(!strcmp(stamp, "2017-03-01T10:30:21Z"));
    cc_date_stamp((time_t)0, stamp, sizeof stamp);
    CHECK(!strcmp(stamp, "1970-01-01T00:00:00Z"));
    CHECK(!strcmp(CC_DATE_CF_UNITS, "days since 1970-01-01 00:00:00"));
    /* SOURCE_DATE_EPOCH: digits only, else the clock */
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    CHECK(cc_date_now_reproducible() == (time_t)1700000000);
    setenv("SOURCE_DATE_EPOCH", "17x", 1);
    CHECK(cc_date_now_reproducible() > (time_t)1700000000);
    unsetenv("SOURCE_DATE_EPOCH");
    CHECK(cc_date_now_reproducible() > (time_t)1700000000);
}

int main(void)
{
    test_calendar();
    test_parse();
    test_datetime();
    test_format();
    TEST_RETURN();
}
