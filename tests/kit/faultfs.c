/*
 * faultfs: an LD_PRELOAD shim that makes the filesystem under one folder fail
 * the way real disks and real crashes do, for the end-to-end tests
 * (host/tests/e2e/disk.rs). HEADWATER_FAULT stops the host at the points its
 * authors thought of; this stops it at every write, fsync and rename that
 * reaches libc, its own and its dependencies' (sled, parquet) alike, so what
 * is proven is what a full disk, a read-only mount or a kill would really do.
 *
 * Configured by the environment, read once at load:
 *   FAULTFS_PREFIX       only paths under this folder are affected (absolute,
 *                        canonical); an fd's path is read from /proc/self/fd.
 *   FAULTFS_MODE         enospc | erofs | kill
 *   FAULTFS_AFTER_BYTES  enospc: this many bytes of writes succeed (the last one
 *                        possibly short), then every write fails with ENOSPC.
 *   FAULTFS_OPS          kill: the ops counted, comma-separated, of
 *                        write (write, pwrite, writev), fsync (fsync, fdatasync,
 *                        sync_file_range), rename (rename, renameat, renameat2),
 *                        open (an open that creates or writes), mkdir.
 *   FAULTFS_AT           kill: SIGKILL at the N-th counted op (1-based). A write
 *                        is torn first (half its bytes written), as a kill in
 *                        the middle of a large write leaves it; other ops are
 *                        killed before they happen.
 *   FAULTFS_LOG          a file to which the shim appends what it did (the first
 *                        fault that fired, and at exit the bytes or ops it counted).
 * erofs fails every open for writing or creating, mkdir, rename, unlink and
 * rmdir under the prefix with EROFS, as a read-only mount does (mkdir of an
 * existing folder fails with EEXIST first, as the kernel does).
 *
 * Wrappers can run on any thread, and in the host's signal-free hot paths: the
 * counters are atomics, the configuration is written once before main, and a
 * wrapper only calls async-signal-safe functions (readlink, getcwd, kill, the
 * real syscall wrappers). The shim's own I/O goes through the real functions.
 */
#undef _FORTIFY_SOURCE /* its inline `open` would clash with ours */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h> /* rename, renameat, renameat2 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum mode { OFF, ENOSPC_MODE, EROFS_MODE, KILL_MODE };
enum op { OP_WRITE = 1, OP_FSYNC = 2, OP_RENAME = 4, OP_OPEN = 8, OP_MKDIR = 16 };

static int mode = OFF;
static char prefix[PATH_MAX];
static size_t prefix_len;
static long long after_bytes;
static unsigned counted_ops;
static long long kill_at;
static char log_path[PATH_MAX];

static _Atomic long long bytes_used; /* enospc: bytes of writes under the prefix */
static _Atomic long long ops_seen;   /* kill: counted ops under the prefix */
static _Atomic int enospc_logged, erofs_logged;

/* ---- the real functions ------------------------------------------------- */

#define REAL(name)                                                                \
    static _Atomic(void *) real_##name##_ptr;                                     \
    static __typeof__(&name) real_##name(void) {                                  \
        void *p = atomic_load(&real_##name##_ptr);                                \
        if (!p) {                                                                 \
            p = dlsym(RTLD_NEXT, #name);                                          \
            atomic_store(&real_##name##_ptr, p);                                  \
        }                                                                         \
        return (__typeof__(&name))p;                                              \
    }

REAL(write)
REAL(pwrite)
REAL(pwrite64)
REAL(writev)
REAL(fsync)
REAL(fdatasync)
REAL(sync_file_range)
REAL(rename)
REAL(renameat)
REAL(renameat2)
REAL(open)
REAL(open64)
REAL(openat)
REAL(openat64)
REAL(mkdir)
REAL(mkdirat)
REAL(unlink)
REAL(unlinkat)
REAL(rmdir)

/* ---- logging, without malloc or stdio ----------------------------------- */

static size_t append(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at + 1 < cap) buf[at++] = *s++;
    buf[at] = '\0';
    return at;
}

static size_t append_num(char *buf, size_t at, size_t cap, long long n) {
    char digits[24];
    int i = 0;
    if (n < 0) { at = append(buf, at, cap, "-"); n = -n; }
    do { digits[i++] = (char)('0' + n % 10); n /= 10; } while (n && i < 23);
    while (i && at + 1 < cap) buf[at++] = digits[--i];
    buf[at] = '\0';
    return at;
}

/* Appends one line to FAULTFS_LOG, through the real functions (never counted). */
static void log_line(const char *what, const char *detail, long long n) {
    if (!log_path[0]) return;
    char line[PATH_MAX + 128];
    size_t at = append(line, 0, sizeof line, what);
    at = append(line, at, sizeof line, " ");
    at = append_num(line, at, sizeof line, n);
    at = append(line, at, sizeof line, " ");
    at = append(line, at, sizeof line, detail ? detail : "");
    at = append(line, at, sizeof line, "\n");
    int saved = errno;
    int fd = real_open()(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!real_write()(fd, line, at);
        close(fd);
    }
    errno = saved;
}

/* ---- which paths are affected ------------------------------------------- */

/* Collapses `//`, `/./` and `/../` in an absolute path, in place. */
static void normalize(char *path) {
    char *out = path, *in = path;
    while (*in) {
        while (*in == '/') in++;
        char *end = in;
        while (*end && *end != '/') end++;
        size_t len = (size_t)(end - in);
        if (len == 0 || (len == 1 && in[0] == '.')) {
            /* nothing */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (out > path && *--out != '/') {}
        } else {
            *out++ = '/';
            memmove(out, in, len);
            out += len;
        }
        in = end;
    }
    if (out == path) *out++ = '/';
    *out = '\0';
}

static int is_under(const char *abs) {
    return strncmp(abs, prefix, prefix_len) == 0 && (abs[prefix_len] == '\0' || abs[prefix_len] == '/');
}

/* The path an fd is open on, or "" (a pipe, a socket, an error). */
static void fd_path(int fd, char *out, size_t cap) {
    char link[64];
    size_t at = append(link, 0, sizeof link, "/proc/self/fd/");
    append_num(link, at, sizeof link, fd);
    ssize_t n = readlink(link, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

static int fd_under(int fd) {
    char path[PATH_MAX];
    fd_path(fd, path, sizeof path);
    return path[0] == '/' && is_under(path);
}

/* Whether `path`, relative to `dirfd` as the *at calls take it, is under the prefix. */
static int path_under_at(int dirfd, const char *path, char *abs, size_t cap) {
    if (!path) return 0;
    abs[0] = '\0';
    if (path[0] != '/') {
        if (dirfd == AT_FDCWD) {
            if (!getcwd(abs, cap)) return 0;
        } else {
            fd_path(dirfd, abs, cap);
            if (abs[0] != '/') return 0;
        }
    }
    size_t at = strlen(abs);
    at = append(abs, at, cap, "/");
    append(abs, at, cap, path);
    normalize(abs);
    return is_under(abs);
}

/* ---- the faults --------------------------------------------------------- */

/* erofs: fails the call on `abs` (logging the first refusal); returns 1 for the caller to
 * return -1. As the kernel walks the path first, a missing parent is ENOENT, not EROFS. */
static int refuse_erofs(const char *abs) {
    char parent[PATH_MAX * 2];
    strncpy(parent, abs, sizeof parent - 1);
    parent[sizeof parent - 1] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = '\0';
    struct stat st;
    if (stat(parent, &st) != 0) { errno = ENOENT; return 1; }
    if (!atomic_exchange(&erofs_logged, 1)) log_line("erofs", abs, 0);
    errno = EROFS;
    return 1;
}

/* Kill mode: counts an op of class `op` on `what`; the N-th is this process's last. */
static int is_fatal(unsigned op) {
    if (mode != KILL_MODE || !(counted_ops & op)) return 0;
    return atomic_fetch_add(&ops_seen, 1) + 1 == kill_at;
}

static void die(const char *what, const char *detail) {
    log_line(what, detail, kill_at);
    kill(getpid(), SIGKILL);
    for (;;) pause();
}

static void die_on_fd(const char *what, int fd) {
    char path[PATH_MAX];
    fd_path(fd, path, sizeof path);
    die(what, path);
}

/* enospc: how many of `count` bytes a write may still write; 0 means none (ENOSPC). */
static size_t budget(size_t count, int fd) {
    long long before = atomic_fetch_add(&bytes_used, (long long)count);
    if (before >= after_bytes) {
        if (count > 0 && !atomic_exchange(&enospc_logged, 1)) {
            char path[PATH_MAX];
            fd_path(fd, path, sizeof path);
            log_line("enospc", path, after_bytes);
        }
        return 0;
    }
    return before + (long long)count > after_bytes ? (size_t)(after_bytes - before) : count;
}

/* The shared part of write, pwrite and pwrite64: -1 to fail (errno set), 0 to go on
 * with *count bytes (maybe fewer than asked: a short write). */
static int before_write(int fd, size_t *count) {
    if (mode != ENOSPC_MODE && !(mode == KILL_MODE && (counted_ops & OP_WRITE))) return 0;
    if (!fd_under(fd)) return 0;
    if (mode == ENOSPC_MODE) {
        size_t allowed = budget(*count, fd);
        if (allowed == 0 && *count > 0) { errno = ENOSPC; return -1; }
        *count = allowed;
        return 0;
    }
    return is_fatal(OP_WRITE); /* 1: the caller tears the write, then dies */
}

ssize_t write(int fd, const void *buf, size_t count) {
    int r = before_write(fd, &count);
    if (r < 0) return -1;
    if (r > 0) {
        if (count > 1) real_write()(fd, buf, count / 2);
        die_on_fd("kill write", fd);
    }
    return real_write()(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    int r = before_write(fd, &count);
    if (r < 0) return -1;
    if (r > 0) {
        if (count > 1) real_pwrite()(fd, buf, count / 2, offset);
        die_on_fd("kill pwrite", fd);
    }
    return real_pwrite()(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    int r = before_write(fd, &count);
    if (r < 0) return -1;
    if (r > 0) {
        if (count > 1) real_pwrite64()(fd, buf, count / 2, offset);
        die_on_fd("kill pwrite64", fd);
    }
    return real_pwrite64()(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    if ((mode == ENOSPC_MODE || (mode == KILL_MODE && (counted_ops & OP_WRITE))) && fd_under(fd)) {
        if (mode == KILL_MODE && is_fatal(OP_WRITE)) die_on_fd("kill writev", fd);
        if (mode == ENOSPC_MODE) {
            size_t total = 0;
            for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
            size_t allowed = budget(total, fd);
            if (allowed == 0 && total > 0) { errno = ENOSPC; return -1; }
            if (allowed < total) {
                /* A short write: only what is left of the budget, from the first buffers. */
                for (int i = 0; i < iovcnt; i++) {
                    if (iov[i].iov_len == 0) continue;
                    size_t n = iov[i].iov_len < allowed ? iov[i].iov_len : allowed;
                    return real_write()(fd, iov[i].iov_base, n);
                }
            }
        }
    }
    return real_writev()(fd, iov, iovcnt);
}

static void maybe_die_syncing(int fd, const char *what) {
    if (mode == KILL_MODE && (counted_ops & OP_FSYNC) && fd_under(fd) && is_fatal(OP_FSYNC)) die_on_fd(what, fd);
}

int fsync(int fd) {
    maybe_die_syncing(fd, "kill fsync");
    return real_fsync()(fd);
}

int fdatasync(int fd) {
    maybe_die_syncing(fd, "kill fdatasync");
    return real_fdatasync()(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
    maybe_die_syncing(fd, "kill sync_file_range");
    return real_sync_file_range()(fd, offset, nbytes, flags);
}

/* rename, renameat, renameat2: 1 to fail with errno set. */
static int before_rename(int olddir, const char *old, int newdir, const char *new, const char *what) {
    if (mode != EROFS_MODE && mode != KILL_MODE) return 0;
    char abs[PATH_MAX * 2];
    int under = path_under_at(olddir, old, abs, sizeof abs);
    if (!under) under = path_under_at(newdir, new, abs, sizeof abs);
    if (!under) return 0;
    if (mode == EROFS_MODE) return refuse_erofs(abs);
    if (is_fatal(OP_RENAME)) die(what, abs);
    return 0;
}

int rename(const char *old, const char *new) {
    if (before_rename(AT_FDCWD, old, AT_FDCWD, new, "kill rename")) return -1;
    return real_rename()(old, new);
}

int renameat(int olddir, const char *old, int newdir, const char *new) {
    if (before_rename(olddir, old, newdir, new, "kill renameat")) return -1;
    return real_renameat()(olddir, old, newdir, new);
}

int renameat2(int olddir, const char *old, int newdir, const char *new, unsigned int flags) {
    if (before_rename(olddir, old, newdir, new, "kill renameat2")) return -1;
    return real_renameat2()(olddir, old, newdir, new, flags);
}

/* open and openat, all four: 1 to fail with errno set. */
static int before_open(int dirfd, const char *path, int flags, const char *what) {
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
    if (!writes || (mode != EROFS_MODE && mode != KILL_MODE)) return 0;
    if (mode == KILL_MODE && !(counted_ops & OP_OPEN)) return 0;
    char abs[PATH_MAX * 2];
    if (!path_under_at(dirfd, path, abs, sizeof abs)) return 0;
    if (mode == EROFS_MODE) return refuse_erofs(abs);
    if (is_fatal(OP_OPEN)) die(what, abs);
    return 0;
}

/* The mode argument exists only when a file may be created. */
#define MODE_ARG(flags)                                                   \
    mode_t perm = 0;                                                      \
    if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) {      \
        va_list ap;                                                       \
        va_start(ap, flags);                                              \
        perm = (mode_t)va_arg(ap, int);                                   \
        va_end(ap);                                                       \
    }

int open(const char *path, int flags, ...) {
    MODE_ARG(flags)
    if (before_open(AT_FDCWD, path, flags, "kill open")) return -1;
    return real_open()(path, flags, perm);
}

int open64(const char *path, int flags, ...) {
    MODE_ARG(flags)
    if (before_open(AT_FDCWD, path, flags, "kill open64")) return -1;
    return real_open64()(path, flags, perm);
}

int openat(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags)
    if (before_open(dirfd, path, flags, "kill openat")) return -1;
    return real_openat()(dirfd, path, flags, perm);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags)
    if (before_open(dirfd, path, flags, "kill openat64")) return -1;
    return real_openat64()(dirfd, path, flags, perm);
}

/* mkdir and mkdirat: 1 to fail with errno set. */
static int before_mkdir(int dirfd, const char *path) {
    if (mode != EROFS_MODE && mode != KILL_MODE) return 0;
    if (mode == KILL_MODE && !(counted_ops & OP_MKDIR)) return 0;
    char abs[PATH_MAX * 2];
    if (!path_under_at(dirfd, path, abs, sizeof abs)) return 0;
    if (mode == KILL_MODE) {
        if (is_fatal(OP_MKDIR)) die("kill mkdir", abs);
        return 0;
    }
    struct stat st;
    if (fstatat(dirfd, path, &st, 0) == 0) { errno = EEXIST; return 1; }
    return refuse_erofs(abs);
}

int mkdir(const char *path, mode_t perm) {
    if (before_mkdir(AT_FDCWD, path)) return -1;
    return real_mkdir()(path, perm);
}

int mkdirat(int dirfd, const char *path, mode_t perm) {
    if (before_mkdir(dirfd, path)) return -1;
    return real_mkdirat()(dirfd, path, perm);
}

/* unlink, unlinkat, rmdir: only a read-only mount refuses them. */
static int refused_removal(int dirfd, const char *path) {
    if (mode != EROFS_MODE) return 0;
    char abs[PATH_MAX * 2];
    return path_under_at(dirfd, path, abs, sizeof abs) ? refuse_erofs(abs) : 0;
}

int unlink(const char *path) {
    if (refused_removal(AT_FDCWD, path)) return -1;
    return real_unlink()(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
    if (refused_removal(dirfd, path)) return -1;
    return real_unlinkat()(dirfd, path, flags);
}

int rmdir(const char *path) {
    if (refused_removal(AT_FDCWD, path)) return -1;
    return real_rmdir()(path);
}

/* ---- configuration ------------------------------------------------------ */

static void fail_config(const char *why, const char *value) {
    /* A typo in a test must not pass as "no fault". */
    const char *lines[] = {"faultfs: ", why, value ? value : "", "\n"};
    for (int i = 0; i < 4; i++) (void)!real_write()(2, lines[i], strlen(lines[i]));
    _exit(97);
}

static long long number(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) fail_config("missing ", name);
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0) fail_config("not a count: ", name);
    return n;
}

__attribute__((constructor)) static void configure(void) {
    const char *p = getenv("FAULTFS_PREFIX");
    const char *m = getenv("FAULTFS_MODE");
    if (!p || !*p || !m) return;
    if (p[0] != '/' || strlen(p) >= sizeof prefix) fail_config("FAULTFS_PREFIX must be an absolute path: ", p);
    strcpy(prefix, p);
    normalize(prefix);
    prefix_len = strlen(prefix);
    const char *l = getenv("FAULTFS_LOG");
    if (l && strlen(l) < sizeof log_path) strcpy(log_path, l);
    if (strcmp(m, "enospc") == 0) {
        after_bytes = number("FAULTFS_AFTER_BYTES");
        mode = ENOSPC_MODE;
    } else if (strcmp(m, "erofs") == 0) {
        mode = EROFS_MODE;
    } else if (strcmp(m, "kill") == 0) {
        kill_at = number("FAULTFS_AT");
        const char *ops = getenv("FAULTFS_OPS");
        if (!ops || !*ops) fail_config("missing ", "FAULTFS_OPS");
        char list[256];
        strncpy(list, ops, sizeof list - 1);
        list[sizeof list - 1] = '\0';
        for (char *save, *op = strtok_r(list, ",", &save); op; op = strtok_r(NULL, ",", &save)) {
            if (strcmp(op, "write") == 0) counted_ops |= OP_WRITE;
            else if (strcmp(op, "fsync") == 0) counted_ops |= OP_FSYNC;
            else if (strcmp(op, "rename") == 0) counted_ops |= OP_RENAME;
            else if (strcmp(op, "open") == 0) counted_ops |= OP_OPEN;
            else if (strcmp(op, "mkdir") == 0) counted_ops |= OP_MKDIR;
            else fail_config("unknown op in FAULTFS_OPS: ", op);
        }
        mode = KILL_MODE;
    } else {
        fail_config("FAULTFS_MODE is enospc, erofs or kill, not ", m);
    }
}

/* At a normal exit, what was counted: how a test sizes a budget or a spread of kills. */
__attribute__((destructor)) static void report(void) {
    if (mode == ENOSPC_MODE) log_line("bytes", prefix, atomic_load(&bytes_used));
    if (mode == KILL_MODE) log_line("ops", prefix, atomic_load(&ops_seen));
}
