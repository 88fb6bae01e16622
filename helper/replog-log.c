
/*
 * Copyright (C) replog authors
 */

/*
 * replog-log verify|dump DIR: reads a node's durable log offline, the way
 * the module replays it at start, and never writes to it.
 *
 *   verify  one line per segment and a summary; exit 0 when the log is
 *           whole, 1 when it has a torn tail (the module cuts it at start),
 *           2 when it is damaged in the middle or cannot be read
 *   dump    one line per message: id, the segment, the record's offset and
 *           the message's JSON; the same exit codes
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ngx_http_replog_log_format.h"


#define RPLOG_MAX_SEGMENTS  65536


typedef struct {
    const char     *file;
    const uint8_t  *base;
    int             dump;
} dump_ctx_t;


static int
dump_record(void *data, rplog_record_t *rec)
{
    dump_ctx_t  *ctx = data;

    if (ctx->dump) {
        printf("%" PRIu64 "\t%s\t%zu\t%.*s\n", rec->id, ctx->file,
               (size_t) (rec->data - RPLOG_REC_HEADER - ctx->base),
               (int) rec->msg_len, (const char *) rec->data + rec->msg);
    }

    return 0;
}


static int
list_segments(const char *dir, uint64_t *segs, size_t *n)
{
    DIR            *d;
    uint64_t        id;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replog-log: %s: %s\n", dir, strerror(errno));
        return -1;
    }

    *n = 0;

    while ((de = readdir(d)) != NULL) {
        id = rplog_segment_id(de->d_name);

        if (id == 0 || *n == RPLOG_MAX_SEGMENTS) {
            continue;
        }

        segs[(*n)++] = id;
    }

    closedir(d);

    qsort(segs, *n, sizeof(uint64_t), rplog_cmp_id);

    return 0;
}


static int
read_meta(const char *dir, int quiet)
{
    int       fd;
    char      file[4096];
    uint8_t   meta[RPLOG_META_SIZE];
    ssize_t   n;
    uint64_t  epoch, incarnation;

    snprintf(file, sizeof(file), "%s/meta", dir);

    fd = open(file, O_RDONLY);
    if (fd == -1) {
        if (!quiet || errno != ENOENT) {
            fprintf(stderr, "replog-log: %s: %s\n", file, strerror(errno));
        }

        return errno == ENOENT ? 0 : -1;
    }

    n = read(fd, meta, sizeof(meta));
    close(fd);

    if (n != RPLOG_META_SIZE
        || rplog_header_read(meta, RPLOG_META_SIZE, RPLOG_META_MAGIC,
                             RPLOG_META_SIZE, &epoch, &incarnation)
           != 0)
    {
        fprintf(stderr, "replog-log: %s: damaged\n", file);
        return -1;
    }

    if (quiet) {
        return 0;
    }

    /* 0: a master recovering (its segments are not its log yet) */
    if (epoch == 0) {
        printf("meta\tepoch none (recovering or discarded)"
               "\tincarnation %016" PRIx64 "\n", incarnation);

    } else {
        printf("meta\tepoch %016" PRIx64 "\tincarnation %016" PRIx64 "\n",
               epoch, incarnation);
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int            fd, dump, rc;
    char           file[4096];
    void          *p;
    size_t         i, n;
    uint64_t      *segs, last, next, total;
    struct stat    st;
    rplog_scan_t   sc;
    dump_ctx_t     ctx;

    if (argc != 3
        || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "dump") != 0))
    {
        fprintf(stderr, "usage: replog-log verify|dump DIR\n");
        return 2;
    }

    dump = (strcmp(argv[1], "dump") == 0);

    rplog_crc32c_init();

    segs = malloc(RPLOG_MAX_SEGMENTS * sizeof(uint64_t));
    if (segs == NULL || list_segments(argv[2], segs, &n) != 0) {
        return 2;
    }

    if (read_meta(argv[2], dump) != 0) {
        return 2;
    }

    rc = 0;
    last = 0;
    total = 0;

    for (i = 0; i < n; i++) {
        snprintf(file, sizeof(file), "%s/%020" PRIu64 "%s", argv[2], segs[i],
                 RPLOG_SEG_SUFFIX);

        next = (i + 1 < n) ? segs[i + 1] : 0;

        /* retention dropped the segments before the first: it starts K */
        if (i == 0) {
            last = segs[0] - 1;
        }

        if (segs[i] != last + 1) {
            fprintf(stderr, "replog-log: %s: starts at id %" PRIu64
                    ", the log before it ends at %" PRIu64 "\n",
                    file, segs[i], last);
            return 2;
        }

        fd = open(file, O_RDONLY);
        if (fd == -1 || fstat(fd, &st) == -1) {
            fprintf(stderr, "replog-log: %s: %s\n", file, strerror(errno));
            return 2;
        }

        memset(&sc, 0, sizeof(sc));
        sc.result = RPLOG_SCAN_HEADER;
        sc.what = "no valid segment header";

        if (st.st_size > 0) {
            p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) {
                fprintf(stderr, "replog-log: %s: %s\n", file,
                        strerror(errno));
                close(fd);
                return 2;
            }

            ctx.file = file;
            ctx.base = p;
            ctx.dump = dump;

            rplog_scan(p, (size_t) st.st_size, next, dump_record, &ctx, &sc);
            munmap(p, (size_t) st.st_size);
        }

        close(fd);

        if (sc.result == RPLOG_SCAN_HEADER && next == 0
            && (st.st_size == 0 || sc.first_id == 0))
        {
            sc.result = RPLOG_SCAN_TORN;
            sc.dropped = (size_t) st.st_size;
            sc.last_id = segs[i] - 1;
        }

        if (!dump) {
            printf("%s\tfirst %" PRIu64 "\tlast %" PRIu64 "\trecords %"
                   PRIu64 "\tend %zu\n", file, segs[i], sc.last_id,
                   sc.records, sc.end);
        }

        total += sc.records;

        if (sc.result == RPLOG_SCAN_TORN && next == 0) {
            fprintf(stderr, "replog-log: %s: torn tail at offset %zu: %zu "
                    "bytes would be dropped (%s)\n", file, sc.end,
                    sc.dropped, sc.what ? sc.what : "no segment header");
            rc = 1;

        } else if (sc.result == RPLOG_SCAN_TORN
                   || sc.result == RPLOG_SCAN_BAD
                   || sc.result == RPLOG_SCAN_HEADER
                   || sc.first_id != segs[i]
                   || (sc.result == RPLOG_SCAN_END && next
                       && sc.last_id + 1 != next))
        {
            fprintf(stderr, "replog-log: %s: damaged at offset %zu: %s "
                    "after id %" PRIu64 "\n", file, sc.end,
                    sc.what ? sc.what : "ids that do not follow",
                    sc.last_id);
            return 2;
        }

        last = sc.last_id;
    }

    if (!dump) {
        printf("%s\t%" PRIu64 " messages, ids %" PRIu64 "..%" PRIu64
               ", %zu segments, %s\n", argv[2], total, n ? segs[0] : 1,
               last, n,
               rc ? "torn tail" : "whole");
    }

    free(segs);

    return rc;
}
