/**
 * Secret environment variables without `docker inspect` showing them. Docker prints every
 * container env var in `inspect`, so a secret the manifest wants as env is delivered as a
 * file under /run/secrets like any other, and a tiny static launcher — bind-mounted into the
 * container as its entrypoint — reads the files named in ROOMSERVICE_SECRET_ENV into the
 * environment and execs the real command (same pid: tini's signal forwarding still works).
 * The session's own values (its token, its id) travel the same way.
 *
 * Held containers (docker/prepared.ts): with ROOMSERVICE_HOLD=1 the launcher first waits —
 * blocked in inotify, no CPU — until /run/secrets/.roomservice-start exists. A container can
 * then be created and started before its session exists; the session writes its values into
 * the (bind-mounted, tmpfs) directory, then the start file, and the real command runs.
 *
 * Pods (kube/): there is no tini in a Pod's container, so with ROOMSERVICE_INIT=1 the launcher
 * stays as PID 1 instead of exec'ing: it runs the command as the leader of its own process
 * group, forwards the stop signals to that whole group (as tini with TINI_KILL_PROCESS_GROUP
 * does under docker), reaps every child, and exits with the command's status (128+N when a
 * signal ended it).
 *
 * The launcher is C compiled once with the host's cc (-static, so it runs in FROM-scratch
 * images); without a compiler, ensureEnvexec() returns null and the caller falls back to
 * plain env, logging that the values will be visible to `docker inspect`.
 */
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ENVEXEC_MOUNT = "/run/roomservice/envexec";
export const SECRET_ENV_VAR = "ROOMSERVICE_SECRET_ENV";
/** Set to "1": stay PID 1 (fork the command, forward signals to its process group, reap). Pods only. */
export const INIT_ENV_VAR = "ROOMSERVICE_INIT";
/** Set to "1": wait for START_FILE before reading the files and exec'ing the command. */
export const HOLD_ENV_VAR = "ROOMSERVICE_HOLD";
/** Written last, into the service's secrets directory, by the session that takes a held container. */
export const START_FILE = ".roomservice-start";

const SOURCE = String.raw`
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/wait.h>

/* With ROOMSERVICE_HOLD=1: block until /run/secrets/.roomservice-start exists. inotify sees
   files the host creates in the bind-mounted directory; polling is the fallback. */
static void hold(void) {
  const char *start = "/run/secrets/.roomservice-start";
  int fd = inotify_init1(IN_CLOEXEC);
  if (fd >= 0 && inotify_add_watch(fd, "/run/secrets", IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) { close(fd); fd = -1; }
  while (access(start, F_OK) != 0) {
    if (fd >= 0) {
      char buf[4096];
      if (read(fd, buf, sizeof buf) < 0 && errno != EINTR) { close(fd); fd = -1; }
    } else {
      struct timespec ts = { 0, 5000000 };
      nanosleep(&ts, NULL);
    }
  }
  if (fd >= 0) close(fd);
}

/* ROOMSERVICE_INIT=1 (a Pod's container has no tini): stay PID 1, run the command as the leader
   of its own process group, forward the stop signals to the whole group, reap every child
   (orphans are re-parented to PID 1), exit with the command's status. */
static volatile pid_t group = 0;
static const int FORWARDED[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
static void forward(int sig) { if (group > 0) kill(-group, sig); }

static int run_as_init(char **argv) {
  sigset_t all, old;
  sigfillset(&all);
  /* Blocked until the group is known: a stop signal that arrives during the fork is kept, not lost. */
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = fork();
  if (pid < 0) { fprintf(stderr, "envexec: fork: %s\n", strerror(errno)); return 126; }
  if (pid == 0) {
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp(argv[0], argv);
    fprintf(stderr, "envexec: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  group = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigfillset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaction(FORWARDED[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  for (;;) {
    int st;
    pid_t w = waitpid(-1, &st, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      return 126;
    }
    if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
}

/* envexec CMD ARGS...: export /run/secrets/<NAME> for each NAME in $ROOMSERVICE_SECRET_ENV, then exec. */
int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "envexec: no command given\n"); return 127; }
  const char *h = getenv("ROOMSERVICE_HOLD");
  if (h != NULL && strcmp(h, "1") == 0) hold();
  unsetenv("ROOMSERVICE_HOLD");
  const char *names = getenv("ROOMSERVICE_SECRET_ENV");
  if (names != NULL && *names != '\0') {
    char *list = strdup(names);
    for (char *n = strtok(list, ","); n != NULL; n = strtok(NULL, ",")) {
      char path[4096];
      snprintf(path, sizeof path, "/run/secrets/%s", n);
      int fd = open(path, O_RDONLY);
      if (fd < 0) { fprintf(stderr, "envexec: cannot read %s: %s\n", path, strerror(errno)); return 126; }
      size_t cap = 4096, len = 0;
      char *buf = malloc(cap);
      for (;;) {
        if (len + 1 >= cap) { cap *= 2; buf = realloc(buf, cap); }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0) { if (errno == EINTR) continue; fprintf(stderr, "envexec: read %s: %s\n", path, strerror(errno)); return 126; }
        if (r == 0) break;
        len += (size_t)r;
      }
      buf[len] = '\0';
      close(fd);
      setenv(n, buf, 1);
    }
    unsetenv("ROOMSERVICE_SECRET_ENV");
  }
  const char *init = getenv("ROOMSERVICE_INIT");
  if (init != NULL && strcmp(init, "1") == 0) {
    unsetenv("ROOMSERVICE_INIT");
    return run_as_init(argv + 1);
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "envexec: cannot run %s: %s\n", argv[1], strerror(errno));
  return 127;
}
`;

let building: Promise<string | null> | null = null;

/** Path of the compiled launcher (cached by source hash), or null when it cannot be built. */
export function ensureEnvexec(): Promise<string | null> {
  building ??= build();
  return building;
}

async function build(): Promise<string | null> {
  const hash = createHash("sha256").update(SOURCE).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), "roomservice-envexec");
  const bin = join(dir, `envexec-${hash}`);
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  const src = join(dir, `envexec-${hash}-${process.pid}.c`);
  const tmp = `${bin}.${process.pid}.tmp`;
  await writeFile(src, SOURCE);
  const ok = await new Promise<boolean>((resolve) => {
    const cc = spawn(process.env.CC ?? "cc", ["-static", "-Os", "-s", "-o", tmp, src], { stdio: "ignore" });
    cc.on("error", () => resolve(false));
    cc.on("exit", (code) => resolve(code === 0));
  });
  await rm(src, { force: true });
  if (!ok) {
    await rm(tmp, { force: true });
    return null;
  }
  await rename(tmp, bin);
  return bin;
}
