#!/usr/bin/env python3
"""Drives one `hv run` of the default Linux guest through its serial console on stdin/stdout (helper of
tests/cli/serial-console.sh). Modes:
  pipe-early  every command is written into a pipe before the guest has booted (input piped into hv at once)
  pipe-late   commands go into the pipe after the guest printed "hv-init: ready"
  pty         hv runs on a pseudo-terminal (raw mode); after "hv-init: ready" the commands are typed a key at a
              time, then one is pasted in a single write, then Ctrl-A h is asked for
  pty-quit    hv on a pseudo-terminal; after "hv-init: ready", Ctrl-A x quits hv at once
Each command prints a marker computed by the guest shell ($((6*7)) and friends), so an echo of the typed input
never counts as the answer. The run ends with "exit" (the guest powers off) and hv must exit 0. On a terminal,
hv must leave it with the settings it found.
Prints one line "PASS ..." or "FAIL ..." and exits 0 or 1."""
import os, pty, select, subprocess, sys, time, termios, tty

def main():
    mode, timeout, log = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    hv = sys.argv[4:]
    commands = [b"echo hv-mark-$((6*7))-a\n", b"echo hv-mark-$((6*8))-b\n"]
    answers = [b"hv-mark-42-a", b"hv-mark-48-b"]
    paste = b"echo hv-mark-$((7*7))-c; echo hv-mark-$((7*8))-d\n"
    if mode == "pty":
        answers += [b"hv-mark-49-c", b"hv-mark-56-d", b"Ctrl-A x        quit hv"]
    if mode == "pty-quit":
        answers = []
    on_pty = mode.startswith("pty")
    saved = None
    start = time.monotonic()
    out = bytearray()
    with open(log, "wb") as logf:
        if on_pty:
            master, slave = pty.openpty()
            saved = termios.tcgetattr(slave)
            proc = subprocess.Popen(hv, stdin=slave, stdout=slave, stderr=logf, start_new_session=True)
            os.close(slave)
            read_fd, write_fd = master, master
        else:
            r, w = os.pipe()
            proc = subprocess.Popen(hv, stdin=r, stdout=subprocess.PIPE, stderr=logf)
            os.close(r)
            read_fd, write_fd = proc.stdout.fileno(), w
        pending = list(commands)
        if mode == "pipe-early":
            for c in pending + [b"exit\n"]:
                os.write(write_fd, c)
            pending = []
        ready_at = None
        seen = set()  # markers found so far; each chunk is searched with a little overlap, not the whole output
        def saw(marker):
            return marker in seen
        stage = 0  # pty: 0 typing, 1 paste sent, 2 help asked, 3 exit sent
        def elapsed():
            return time.monotonic() - start
        deadline = start + timeout
        eof = False
        while time.monotonic() < deadline and not eof:
            rl, _, _ = select.select([read_fd], [], [], 0.2)
            if rl:
                try:
                    chunk = os.read(read_fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    eof = True
                else:
                    out += chunk
                    logf.write(chunk)
                    window = bytes(out[-(len(chunk) + 64):])
                    for marker in answers + [b"hv-init: ready"]:
                        if marker not in seen and marker in window:
                            seen.add(marker)
            if ready_at is None and saw(b"hv-init: ready"):
                ready_at = elapsed()
                # Let the shell start its line editor; the check is that input is not lost either way.
                time.sleep(0.5)
                if mode == "pipe-late":
                    for c in pending + [b"exit\n"]:
                        os.write(write_fd, c)
                    pending = []
                elif mode == "pty-quit":
                    os.write(write_fd, b"\x01x")
                    stage = 3
                elif mode == "pty":
                    for c in pending:
                        for key in c:
                            os.write(write_fd, bytes([key]))
                            time.sleep(0.02)
                    os.write(write_fd, paste)
                    stage = 1
            if mode == "pty" and stage == 1 and all(saw(a) for a in answers[:4]):
                os.write(write_fd, b"\x01h")
                stage = 2
            if mode == "pty" and stage == 2 and saw(answers[4]):
                os.write(write_fd, b"exit\n")
                stage = 3
            if not on_pty and all(saw(a) for a in answers) and proc.poll() is not None:
                break
        try:
            status = proc.wait(timeout=max(1, deadline - time.monotonic()) if not eof else 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = "killed"
        problems = []
        if on_pty:
            # The master reports the terminal's settings; hv in raw mode had changed them.
            if termios.tcgetattr(master) != saved:
                problems.append("terminal settings not restored")
            os.close(master)
        else:
            os.close(write_fd)
    if mode == "pty-quit":
        with open(log, "rb") as f:
            if b"hv: terminated (Ctrl-A x)" not in f.read():
                problems.append("no 'hv: terminated (Ctrl-A x)'")
    missing = [a.decode() for a in answers if not saw(a)]
    ready = f"{ready_at:.1f}" if ready_at is not None else "never"
    if missing or status != 0 or problems:
        print(f"FAIL {mode}: ready at {ready} s, hv status {status}, missing {missing} {problems}, "
              f"after {elapsed():.1f} s")
        return 1
    print(f"PASS {mode}: ready at {ready} s, all answers, hv exit 0 after {elapsed():.1f} s")
    return 0

if __name__ == "__main__":
    sys.exit(main())
