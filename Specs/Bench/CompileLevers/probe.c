// Compiles one module with the NuGet package's libwasmtime.so under the settings given on the command line and
// prints the compile's wall and CPU time, serialize time and size, and (optionally) the time to write and fsync the
// serialized code: what the first start of a big module waits for, lever by lever. See run.sh.
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

// The few declarations of Wasmtime's C API this needs (the package ships the library, not its headers).
typedef struct wasm_config_t wasm_config_t;
typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasmtime_module wasmtime_module_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct { size_t size; uint8_t *data; } wasm_byte_vec_t;
wasm_config_t *wasm_config_new(void);
wasm_engine_t *wasm_engine_new_with_config(wasm_config_t *);
void wasmtime_config_strategy_set(wasm_config_t *, uint8_t);
void wasmtime_config_parallel_compilation_set(wasm_config_t *, bool);
void wasmtime_config_epoch_interruption_set(wasm_config_t *, bool);
void wasmtime_config_native_unwind_info_set(wasm_config_t *, bool);
void wasmtime_config_cranelift_opt_level_set(wasm_config_t *, uint8_t);
void wasmtime_config_cranelift_regalloc_algorithm_set(wasm_config_t *, uint8_t);
wasmtime_error_t *wasmtime_module_new(wasm_engine_t *, const uint8_t *, size_t, wasmtime_module_t **);
wasmtime_error_t *wasmtime_module_serialize(wasmtime_module_t *, wasm_byte_vec_t *);
void wasmtime_error_message(const wasmtime_error_t *, wasm_byte_vec_t *);

static double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s MODULE STRATEGY(1 cranelift, 2 winch) PARALLEL(0/1) UNWIND(0/1) OPT(-1 default, 0 none) "
                    "REGALLOC(-1 default, 1 single-pass) WRITE(0/1)\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = malloc(n);
  if (fread(bytes, 1, n, f) != (size_t)n) { perror("read"); return 1; }
  fclose(f);

  wasm_config_t *config = wasm_config_new();
  wasmtime_config_strategy_set(config, atoi(argv[2]));
  wasmtime_config_parallel_compilation_set(config, atoi(argv[3]));
  wasmtime_config_epoch_interruption_set(config, true);
  wasmtime_config_native_unwind_info_set(config, atoi(argv[4]));
  if (atoi(argv[5]) >= 0) wasmtime_config_cranelift_opt_level_set(config, atoi(argv[5]));
  if (atoi(argv[6]) >= 0) wasmtime_config_cranelift_regalloc_algorithm_set(config, atoi(argv[6]));
  wasm_engine_t *engine = wasm_engine_new_with_config(config);

  double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  wasmtime_module_t *module;
  wasmtime_error_t *error = wasmtime_module_new(engine, bytes, n, &module);
  if (error) {
    wasm_byte_vec_t message;
    wasmtime_error_message(error, &message);
    fprintf(stderr, "error: %.*s\n", (int)message.size, message.data);
    return 1;
  }
  double w1 = seconds(CLOCK_MONOTONIC), c1 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  wasm_byte_vec_t code;
  wasmtime_module_serialize(module, &code);
  double w2 = seconds(CLOCK_MONOTONIC);
  if (atoi(argv[7])) {
    char path[] = "/var/tmp/compile-levers-XXXXXX";
    int fd = mkstemp(path);
    for (size_t done = 0; done < code.size;) {
      ssize_t k = write(fd, code.data + done, code.size - done);
      if (k <= 0) { perror("write"); return 1; }
      done += k;
    }
    fsync(fd);
    close(fd);
    unlink(path);
  }
  double w3 = seconds(CLOCK_MONOTONIC);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  printf("compile %.2f s wall %.2f s cpu | serialize %.2f s, %zu MB | write+fsync %.2f s | max rss %ld MB\n",
         w1 - w0, c1 - c0, w2 - w1, code.size >> 20, w3 - w2, usage.ru_maxrss >> 10);
  return 0;
}
