/*
 * memcpy-count: an LD_PRELOAD shim that counts the bytes a process passes to
 * memcpy and memmove (all calls, and calls of 256 bytes or more, where payload
 * copies land; smaller ones are mostly struct moves) and writes the totals to
 * $MEMCPY_COUNT_OUT when the process exits. Used for the README's TLS copy
 * figures (issue 16): run a server under it, stream through it, and divide
 * the bytes copied by the bytes it wrote to its socket (/proc/PID/io wchar,
 * read before stopping it):
 *
 *   gcc -O2 -shared -fPIC -o /tmp/memcpy_count.so benches/peers/memcpy-count/memcpy_count.c -ldl
 *   MEMCPY_COUNT_OUT=/tmp/counts.txt LD_PRELOAD=/tmp/memcpy_count.so \
 *     target/release/order-server --addr 127.0.0.1:0 [--tls-cert F --tls-key F] &
 *   target/release/order-bench --addr ADDR [--ca F] --mode server-stream --concurrency 4 \
 *     --order-bytes 4096 --duration 3
 *   awk '/^wchar:/ {print $2}' /proc/$!/io; kill $!; cat /tmp/counts.txt
 *
 * Rust calls libc's memcpy for copies the compiler does not inline (all the
 * large ones), so they pass through here; inlined small copies are not seen.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef void *(*copy_fn)(void *, const void *, size_t);
static copy_fn real_memcpy, real_memmove;
static unsigned long long calls_all, bytes_all, calls_big, bytes_big;

static void count(size_t n) {
  __atomic_fetch_add(&calls_all, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&bytes_all, n, __ATOMIC_RELAXED);
  if (n >= 256) {
    __atomic_fetch_add(&calls_big, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&bytes_big, n, __ATOMIC_RELAXED);
  }
}

// Until dlsym has answered (it may copy memory itself): a plain byte loop.
static void *slow_move(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s)
    for (size_t i = 0; i < n; i++) d[i] = s[i];
  else
    for (size_t i = n; i > 0; i--) d[i - 1] = s[i - 1];
  return dst;
}

static int resolving;
static void resolve(void) {
  if (resolving) return;
  resolving = 1;
  real_memcpy = (copy_fn)dlsym(RTLD_NEXT, "memcpy");
  real_memmove = (copy_fn)dlsym(RTLD_NEXT, "memmove");
  resolving = 0;
}

void *memcpy(void *dst, const void *src, size_t n) {
  if (!real_memcpy) resolve();
  count(n);
  return real_memcpy ? real_memcpy(dst, src, n) : slow_move(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n) {
  if (!real_memmove) resolve();
  count(n);
  return real_memmove ? real_memmove(dst, src, n) : slow_move(dst, src, n);
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("MEMCPY_COUNT_OUT");
  if (!path) return;
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "calls %llu bytes %llu big_calls %llu big_bytes %llu\n", calls_all, bytes_all,
          calls_big, bytes_big);
  fclose(f);
}
