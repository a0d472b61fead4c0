/* The target fast path's per-frame loop in C, for exports served from a plain file descriptor
 * (FileBackend without O_DIRECT): the "c-loop" lever of benchmarks/target_levers.py, measured
 * and not kept (README, "The target's speed levers"); benchmarks/native_fastpath.py builds it.
 *
 * It is pyaoe.target.fastpath.FastPath.answer_batch frame for frame: the same checks in the same
 * order, the same runs of contiguous frames (one preadv/pwritev each, in order), the same replies
 * built in the request's buffer, the same frames left for the engine (NOT_HANDLED, untouched).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#define ATA_HLEN 36
#define SECTOR_SIZE 512
#define WRITE_REPLY_LENGTH 60
#define MAX_RUN 1024
#define NOT_HANDLED (-1)
#define LBA28_MAX 0x0FFFFFFFu
/* EtherType 0x88A2, ver 1 flags 0 (R set in a reply), error 0, read as one little-endian word. */
#define REQUEST_WORD 0x0010A288u
#define REPLY_WORD 0x0018A288u
#define STATUS_DRDY 0x40
#define READ28 0x20
#define READ48 0x24
#define WRITE28 0x30
#define WRITE48 0x34

typedef struct {
    uint32_t address; /* shelf (as on the wire) | slot << 16 | command << 24 */
    int fd;
    long long base;    /* bytes before the export's window */
    long long sectors; /* sectors in the window */
    int readonly;
    PyObject *state;   /* ExportState (borrowed from the table) */
    long long stats[4]; /* reads, sectors read, writes, sectors written */
} Export;

typedef struct {
    Export *export;
    int writing;
    long long start, end;
    Py_ssize_t count;
    Py_ssize_t index[MAX_RUN];
    struct iovec iov[MAX_RUN];
} Run;

static uint32_t le32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t le16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Whether ``src`` is in the list attribute ``name`` of the export's state (an empty list: yes). */
static int allowed(PyObject *state, const char *name, const unsigned char *src, int *error)
{
    PyObject *list = PyObject_GetAttrString(state, name);
    if (list == NULL) { *error = 1; return 0; }
    Py_ssize_t n = PyList_Check(list) ? PyList_GET_SIZE(list) : -1;
    int ok = n == 0;
    for (Py_ssize_t k = 0; k < n && !ok; k++) {
        PyObject *mac = PyList_GET_ITEM(list, k);
        ok = PyBytes_Check(mac) && PyBytes_GET_SIZE(mac) == 6 && memcmp(PyBytes_AS_STRING(mac), src, 6) == 0;
    }
    if (n < 0) { PyErr_SetString(PyExc_TypeError, "a mask or reserve list that is not a list"); *error = 1; }
    Py_DECREF(list);
    return ok;
}

/* One run's I/O, as FileBackend.readv/writev do it (carry on after a short transfer, stop at
 * end of file or an error); then the replies of the frames it covered in full. */
static void finish(Run *run, Py_buffer *views, PyObject *replies, const unsigned char *mac)
{
    long long want = run->end - run->start, done = 0;
    struct iovec *iov = run->iov;
    int cnt = (int)run->count;
    struct iovec rest[MAX_RUN];
    while (done < want) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = run->writing ? pwritev(run->export->fd, iov, cnt, run->export->base + run->start + done)
                         : preadv(run->export->fd, iov, cnt, run->export->base + run->start + done);
        Py_END_ALLOW_THREADS
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += n;
        /* the iovecs left after n bytes */
        int k = 0;
        size_t skip = (size_t)n;
        while (k < cnt && skip >= iov[k].iov_len) { skip -= iov[k].iov_len; k++; }
        if (k == cnt) break;
        memcpy(rest, iov + k, sizeof(struct iovec) * (size_t)(cnt - k));
        rest[0].iov_base = (char *)rest[0].iov_base + skip;
        rest[0].iov_len -= skip;
        iov = rest;
        cnt -= k;
    }
    long long frames = 0, moved = 0;
    for (Py_ssize_t k = 0; k < run->count; k++) {
        long long length = (long long)run->iov[k].iov_len;
        if (done < length) break;
        done -= length;
        Py_ssize_t i = run->index[k];
        unsigned char *buf = views[i].buf;
        memcpy(buf, buf + 6, 6);
        memcpy(buf + 6, mac, 6);
        uint32_t word = REPLY_WORD;
        memcpy(buf + 12, &word, 4);
        buf[25] = 0;
        buf[26] = 0;
        buf[27] = STATUS_DRDY;
        long reply = ATA_HLEN + (long)length;
        if (run->writing) {
            memset(buf + ATA_HLEN, 0, WRITE_REPLY_LENGTH - ATA_HLEN);
            reply = WRITE_REPLY_LENGTH;
        }
        PyObject *value = PyLong_FromLong(reply);
        if (value != NULL) PyList_SetItem(replies, i, value);
        frames++;
        moved += length;
    }
    long long *stats = run->export->stats + (run->writing ? 2 : 0);
    stats[0] += frames;
    stats[1] += moved / SECTOR_SIZE;
    run->count = 0;
}

/* answer(buffers, lengths, replies, mac, max_sectors, table) -> list of (export index, reads,
 * sectors read, writes, sectors written) for the exports that moved anything. */
static PyObject *answer(PyObject *self, PyObject *args)
{
    PyObject *buffers, *lengths, *replies, *table;
    Py_buffer mac;
    long max_sectors;
    if (!PyArg_ParseTuple(args, "OOOy*lO!", &buffers, &lengths, &replies, &mac, &max_sectors, &PyTuple_Type, &table))
        return NULL;
    PyObject *result = NULL;
    Py_buffer *views = NULL;
    Export *exports = NULL;
    Run *run = NULL;
    Py_ssize_t held = 0;
    Py_ssize_t nexports = PyTuple_GET_SIZE(table);
    Py_ssize_t n = PyList_Check(lengths) ? PyList_GET_SIZE(lengths) : -1;
    if (mac.len != 6 || n < 0 || !PyList_Check(replies) || PyList_GET_SIZE(replies) != n) {
        PyErr_SetString(PyExc_ValueError, "answer(): bad arguments");
        goto done;
    }
    exports = PyMem_Calloc((size_t)nexports + 1, sizeof(Export));
    views = PyMem_Calloc((size_t)n + 1, sizeof(Py_buffer));
    run = PyMem_Malloc(sizeof(Run));
    if (exports == NULL || views == NULL || run == NULL) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t e = 0; e < nexports; e++) {
        unsigned long address;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(table, e), "kiLLpO", &address, &exports[e].fd, &exports[e].base,
                              &exports[e].sectors, &exports[e].readonly, &exports[e].state))
            goto done;
        exports[e].address = (uint32_t)address;
    }
    run->count = 0;
    const unsigned char *ours = mac.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        long length_in = PyLong_AsLong(PyList_GET_ITEM(lengths, i));
        if (length_in == -1 && PyErr_Occurred()) goto done;
        if (length_in < ATA_HLEN) continue;
        PyObject *item = PySequence_GetItem(buffers, i);
        if (item == NULL) goto done;
        int got = PyObject_GetBuffer(item, &views[i], PyBUF_WRITABLE);
        Py_DECREF(item);
        if (got < 0) goto done;
        held = i + 1;
        unsigned char *buf = views[i].buf;
        if (views[i].len < ATA_HLEN) continue;
        uint32_t address = le32(buf + 16);
        Export *export = NULL;
        for (Py_ssize_t e = 0; e < nexports; e++)
            if (exports[e].address == address) { export = &exports[e]; break; }
        if (export == NULL || le32(buf + 12) != REQUEST_WORD || memcmp(buf, ours, 6) != 0) continue;
        long count = buf[26];
        int ata = buf[27];
        if (!(0 < count && count <= max_sectors)) continue;
        int write, extended;
        if (ata == READ48) { write = 0; extended = 1; }
        else if (ata == WRITE48) { write = 1; extended = 1; }
        else if (ata == READ28) { write = 0; extended = 0; }
        else if (ata == WRITE28) { write = 1; extended = 0; }
        else continue;
        int error = 0;
        if (!allowed(export->state, "mask_list", buf + 6, &error)) { if (error) goto done; continue; }
        if (!allowed(export->state, "reserve_list", buf + 6, &error)) { if (error) goto done; continue; }
        long long lba = le32(buf + 28);
        if (extended) lba |= (long long)le16(buf + 32) << 32;
        else lba &= LBA28_MAX;
        if (lba + count > export->sectors) continue;
        long long length = count * SECTOR_SIZE;
        if (write && (export->readonly || length_in < ATA_HLEN + length)) continue;
        if (views[i].len < ATA_HLEN + length) continue;
        long long offset = lba * SECTOR_SIZE;
        if (run->count && (offset != run->end || export != run->export || write != run->writing || run->count >= MAX_RUN))
            finish(run, views, replies, ours);
        if (!run->count) {
            run->export = export;
            run->writing = write;
            run->start = offset;
        }
        run->index[run->count] = i;
        run->iov[run->count].iov_base = buf + ATA_HLEN;
        run->iov[run->count].iov_len = (size_t)length;
        run->count++;
        run->end = offset + length;
    }
    if (run->count) finish(run, views, replies, ours);
    if (PyErr_Occurred()) goto done;
    result = PyList_New(0);
    for (Py_ssize_t e = 0; result != NULL && e < nexports; e++) {
        long long *s = exports[e].stats;
        if (!(s[0] || s[2])) continue;
        PyObject *row = Py_BuildValue("(nLLLL)", e, s[0], s[1], s[2], s[3]);
        if (row == NULL || PyList_Append(result, row) < 0) Py_CLEAR(result);
        Py_XDECREF(row);
    }
done:
    for (Py_ssize_t i = 0; views != NULL && i < held; i++)
        if (views[i].obj != NULL) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(exports);
    PyMem_Free(run);
    PyBuffer_Release(&mac);
    return result;
}

static PyMethodDef methods[] = {
    {"answer", answer, METH_VARARGS, "The fast path's loop over one batch (see pyaoe.service.native_fastpath)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastloop", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastloop(void) { return PyModule_Create(&module); }
