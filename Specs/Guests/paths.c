// Reports how the guest's libc sees its working directory: one line per argument.
//   cd:DIR    chdir(DIR), then prints "cwd DIR" or the error
//   cd-pwd    chdir($PWD), the idiom that gives a wasi-libc program its container's working directory
//   cwd       prints "cwd " and getcwd()
//   PATH      opens PATH and prints "PATH: " and its first line, or the error
// Exits 0; every failure is on stdout, so one run shows each path's fate.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void change_to(const char *dir) {
  if (dir == NULL) {
    printf("cd: PWD is not set\n");
  } else if (chdir(dir) != 0) {
    printf("cd %s: %s\n", dir, strerror(errno));
  } else {
    printf("cd %s\n", dir);
  }
}

static void print_cwd(void) {
  char buf[4096];
  printf("cwd %s\n", getcwd(buf, sizeof buf) ? buf : strerror(errno));
}

static void show(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    printf("%s: %s\n", path, strerror(errno));
    return;
  }
  char line[256] = "";
  if (fgets(line, sizeof line, f) == NULL)
    line[0] = '\0';
  line[strcspn(line, "\n")] = '\0';
  printf("%s: %s\n", path, line);
  fclose(f);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "cd:", 3) == 0)
      change_to(arg + 3);
    else if (strcmp(arg, "cd-pwd") == 0)
      change_to(getenv("PWD"));
    else if (strcmp(arg, "cwd") == 0)
      print_cwd();
    else
      show(arg);
  }
  return 0;
}
