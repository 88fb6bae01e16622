
/*
 * Copyright (C) replog authors
 */


#ifndef _NGX_HTTP_REPLOG_LOG_FORMAT_H_INCLUDED_
#define _NGX_HTTP_REPLOG_LOG_FORMAT_H_INCLUDED_


/*
 * The durable log's files, as the module writes them and the offline
 * replog-log tool reads them; plain C, included by both.
 *
 * DIR/lock                  flock()ed by the running node
 * DIR/meta                  epoch and incarnation (40 bytes)
 * DIR/NNNNNNNNNNNNNNNNNNNN.seg   a segment, named by its first id
 *
 * A segment is preallocated to RPLOG_SEGMENT_SIZE (so an fdatasync of an
 * append commits no metadata), starts with a 32-byte header and holds
 * records back to back; the zeros after the last record are free space.
 * All integers are little-endian.
 *
 * segment header:  0 "RPLOGSEG"  8 u32 version  12 u32 CRC32C of bytes
 *                  16..31  16 u64 first id  24 u64 epoch
 * record:          0 u32 len  4 u32 CRC32C of bytes 8..24+len
 *                  8 u64 id  16 u32 msg  20 u32 msg_len  24 data[len]
 * meta:            0 "RPLOGMET"  8 u32 version  12 u32 CRC32C of bytes
 *                  16..39  16 u64 epoch  24 u64 incarnation  32 u64 0
 *
 * data is the entry as the zone stores it (its list form, see
 * ngx_http_replog_entry_t), msg and msg_len locate the message's JSON in
 * it: a replay copies bytes, it does not encode them again.  Ids follow
 * each other by one.  A later segment whose first id is at or below ids
 * of the one before it wins over them (a segment abandoned after a failed
 * write or fsync is not written again).
 */


#include <stdint.h>
#include <stddef.h>
#include <string.h>


#define RPLOG_SEGMENT_SIZE      (64 * 1024 * 1024)
#define RPLOG_SEG_HEADER        32
#define RPLOG_REC_HEADER        24
#define RPLOG_META_SIZE         40
#define RPLOG_VERSION           1
#define RPLOG_SEG_MAGIC         "RPLOGSEG"
#define RPLOG_META_MAGIC        "RPLOGMET"
#define RPLOG_SEG_SUFFIX        ".seg"
#define RPLOG_SEG_NAME_LEN      (20 + sizeof(RPLOG_SEG_SUFFIX) - 1)

/* a record never holds more than a segment can */
#define RPLOG_MAX_DATA          (RPLOG_SEGMENT_SIZE - RPLOG_SEG_HEADER      \
                                 - RPLOG_REC_HEADER)


/* what a scan of one segment found */
#define RPLOG_SCAN_END          0   /* the zeros of free space */
#define RPLOG_SCAN_STOP         1   /* reached the id the next one starts */
#define RPLOG_SCAN_TORN         2   /* a cut or garbage tail */
#define RPLOG_SCAN_BAD          3   /* a bad record with whole ones after */
#define RPLOG_SCAN_HEADER       4   /* no valid segment header */


typedef struct {
    uint64_t        id;
    uint32_t        msg;
    uint32_t        msg_len;
    uint32_t        len;
    const uint8_t  *data;
} rplog_record_t;


typedef struct {
    int             result;          /* RPLOG_SCAN_* */
    uint64_t        first_id;
    uint64_t        epoch;
    uint64_t        last_id;         /* of the last whole record */
    uint64_t        records;
    size_t          end;             /* offset after the last whole one */
    size_t          dropped;         /* torn: bytes from end to the last
                                        non-zero byte */
    const char     *what;            /* why a record is bad */
} rplog_scan_t;


typedef int (*rplog_record_pt)(void *ctx, rplog_record_t *rec);


static uint32_t  rplog_crc32c_table[8][256];


static inline void
rplog_crc32c_init(void)
{
    uint32_t  c, i, k;

    if (rplog_crc32c_table[0][1] != 0) {
        return;
    }

    for (i = 0; i < 256; i++) {
        c = i;

        for (k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78 : c >> 1;
        }

        rplog_crc32c_table[0][i] = c;
    }

    for (i = 0; i < 256; i++) {
        c = rplog_crc32c_table[0][i];

        for (k = 1; k < 8; k++) {
            c = rplog_crc32c_table[0][c & 0xff] ^ (c >> 8);
            rplog_crc32c_table[k][i] = c;
        }
    }
}


/* CRC32C (Castagnoli), eight bytes a step; rplog_crc32c_init() first */

static inline uint32_t
rplog_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t  w;

    crc = ~crc;

    while (len && ((uintptr_t) p & 7)) {
        crc = rplog_crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }

    while (len >= 8) {
        memcpy(&w, p, 8);
        w ^= crc;

        crc = rplog_crc32c_table[7][w & 0xff]
              ^ rplog_crc32c_table[6][(w >> 8) & 0xff]
              ^ rplog_crc32c_table[5][(w >> 16) & 0xff]
              ^ rplog_crc32c_table[4][(w >> 24) & 0xff]
              ^ rplog_crc32c_table[3][(w >> 32) & 0xff]
              ^ rplog_crc32c_table[2][(w >> 40) & 0xff]
              ^ rplog_crc32c_table[1][(w >> 48) & 0xff]
              ^ rplog_crc32c_table[0][w >> 56];

        p += 8;
        len -= 8;
    }

    while (len--) {
        crc = rplog_crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }

    return ~crc;
}


static inline uint32_t
rplog_get32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static inline uint64_t
rplog_get64(const uint8_t *p)
{
    return (uint64_t) rplog_get32(p) | (uint64_t) rplog_get32(p + 4) << 32;
}


static inline uint8_t *
rplog_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);

    return p + 4;
}


static inline uint8_t *
rplog_put64(uint8_t *p, uint64_t v)
{
    p = rplog_put32(p, (uint32_t) v);
    return rplog_put32(p, (uint32_t) (v >> 32));
}


/* a segment header or the meta file: magic, version, CRC of the rest */

static inline void
rplog_header_write(uint8_t *p, const char *magic, size_t size, uint64_t a,
    uint64_t b)
{
    memcpy(p, magic, 8);
    rplog_put32(p + 8, RPLOG_VERSION);
    rplog_put64(p + 16, a);
    rplog_put64(p + 24, b);

    if (size > 32) {
        memset(p + 32, 0, size - 32);
    }

    rplog_put32(p + 12, rplog_crc32c(0, p + 16, size - 16));
}


static inline int
rplog_header_read(const uint8_t *p, size_t len, const char *magic,
    size_t size, uint64_t *a, uint64_t *b)
{
    if (len < size
        || memcmp(p, magic, 8) != 0
        || rplog_get32(p + 8) != RPLOG_VERSION
        || rplog_get32(p + 12) != rplog_crc32c(0, p + 16, size - 16))
    {
        return -1;
    }

    *a = rplog_get64(p + 16);
    *b = rplog_get64(p + 24);

    return 0;
}


/* the first id a segment's file name gives, 0 if it is no segment */

static inline uint64_t
rplog_segment_id(const char *name)
{
    size_t    k;
    uint64_t  id;

    if (strlen(name) != RPLOG_SEG_NAME_LEN
        || strcmp(name + 20, RPLOG_SEG_SUFFIX) != 0)
    {
        return 0;
    }

    for (k = 0, id = 0; k < 20; k++) {
        if (name[k] < '0' || name[k] > '9') {
            return 0;
        }

        id = id * 10 + (uint64_t) (name[k] - '0');
    }

    return id;
}


/* qsort() of segments' first ids */

static inline int
rplog_cmp_id(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


/*
 * Frames one record into p, which has RPLOG_REC_HEADER + len bytes, its
 * checksum left to rplog_records_seal() (so that a writer copying under a
 * lock computes it after)
 */

static inline uint8_t *
rplog_record_write(uint8_t *p, uint64_t id, uint32_t msg, uint32_t msg_len,
    const uint8_t *data, uint32_t len)
{
    rplog_put32(p, len);
    rplog_put64(p + 8, id);
    rplog_put32(p + 16, msg);
    rplog_put32(p + 20, msg_len);
    memcpy(p + RPLOG_REC_HEADER, data, len);

    return p + RPLOG_REC_HEADER + len;
}


/* the checksums of the records framed from p to last */

static inline void
rplog_records_seal(uint8_t *p, uint8_t *last)
{
    uint32_t  len;

    while (p < last) {
        len = rplog_get32(p);
        rplog_put32(p + 4, rplog_crc32c(0, p + 8, RPLOG_REC_HEADER - 8 + len));
        p += RPLOG_REC_HEADER + len;
    }
}


/* a whole, valid record of id at off, or NULL with why */

static inline const char *
rplog_record_check(const uint8_t *base, size_t size, size_t off,
    uint64_t id, rplog_record_t *rec)
{
    uint32_t        len;
    const uint8_t  *p;

    if (size - off < RPLOG_REC_HEADER) {
        return "a record header cut short";
    }

    p = base + off;
    len = rplog_get32(p);

    if (len > size - off - RPLOG_REC_HEADER) {
        return "a record cut short";
    }

    if (rplog_get32(p + 4) != rplog_crc32c(0, p + 8,
                                           RPLOG_REC_HEADER - 8 + len))
    {
        return "a bad checksum";
    }

    rec->id = rplog_get64(p + 8);
    rec->msg = rplog_get32(p + 16);
    rec->msg_len = rplog_get32(p + 20);
    rec->len = len;
    rec->data = p + RPLOG_REC_HEADER;

    if (rec->id != id) {
        return "an id out of sequence";
    }

    if (rec->msg > len || rec->msg_len > len - rec->msg) {
        return "a message outside its record";
    }

    return NULL;
}


static inline int
rplog_zero(const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t) p & 7)) {
        if (*p++) {
            return 0;
        }

        len--;
    }

    while (len >= 8) {
        if (*(const uint64_t *) p) {
            return 0;
        }

        p += 8;
        len -= 8;
    }

    while (len--) {
        if (*p++) {
            return 0;
        }
    }

    return 1;
}


/*
 * Walks the records of a segment mapped at base, from its first id on,
 * calling handler for each whole one, up to the id stop (0: no bound).
 * A bad record is damage in the middle when a whole record of the next
 * id follows it; otherwise it is a torn tail, cut at sc->end.
 */

static inline void
rplog_scan(const uint8_t *base, size_t size, uint64_t stop,
    rplog_record_pt handler, void *ctx, rplog_scan_t *sc)
{
    size_t           off, next, last;
    uint64_t         id;
    const char      *err;
    rplog_record_t   rec, after;

    memset(sc, 0, sizeof(rplog_scan_t));

    if (rplog_header_read(base, size, RPLOG_SEG_MAGIC, RPLOG_SEG_HEADER,
                          &sc->first_id, &sc->epoch)
        != 0
        || sc->first_id == 0)
    {
        sc->result = RPLOG_SCAN_HEADER;
        sc->what = "no valid segment header";
        return;
    }

    off = RPLOG_SEG_HEADER;
    id = sc->first_id;
    sc->last_id = id - 1;

    for ( ;; ) {
        sc->end = off;

        if (stop && id >= stop) {
            sc->result = RPLOG_SCAN_STOP;
            return;
        }

        if (size - off < RPLOG_REC_HEADER
            ? rplog_zero(base + off, size - off)
            : rplog_get32(base + off) == 0 && rplog_get32(base + off + 4) == 0
              && rplog_zero(base + off, size - off))
        {
            sc->result = RPLOG_SCAN_END;
            return;
        }

        err = rplog_record_check(base, size, off, id, &rec);

        if (err) {
            break;
        }

        if (handler && handler(ctx, &rec) != 0) {
            sc->result = RPLOG_SCAN_STOP;
            return;
        }

        sc->last_id = id;
        sc->records++;
        id++;
        off += RPLOG_REC_HEADER + rec.len;
    }

    sc->what = err;

    /* a bad record of a sane length followed by the next whole one */
    if (size - off >= RPLOG_REC_HEADER) {
        next = off + RPLOG_REC_HEADER + rplog_get32(base + off);

        if (next > off && next < size
            && rplog_record_check(base, size, next, id + 1, &after) == NULL)
        {
            sc->result = RPLOG_SCAN_BAD;
            return;
        }
    }

    sc->result = RPLOG_SCAN_TORN;

    for (last = size; last > off && base[last - 1] == 0; last--) {
        /* void */
    }

    sc->dropped = last - off;
}


#endif /* _NGX_HTTP_REPLOG_LOG_FORMAT_H_INCLUDED_ */
