"""Factor IX, disposability: a service that stops cleanly when asked.

`pyker stop` sends SIGTERM to the container's PID 1, waits (10 s, or `-t`), then SIGKILL.
Python installs no SIGTERM handler of its own, and the kernel delivers to the PID 1 of a
PID namespace only the signals it handles: without the handler below, SIGTERM would be
ignored and the stop would end in SIGKILL (exit code 137). With it, the service finishes
its current unit of work, says so on stdout (factor XI) and exits 0.
"""

import signal
import sys
import time

running = True


def on_sigterm(signum, frame):
    global running
    print(f"signal {signal.Signals(signum).name} reçu : je termine la tâche en cours",
          flush=True)
    running = False


signal.signal(signal.SIGTERM, on_sigterm)
print("prêt : une tâche toutes les 0,2 s", flush=True)
while running:
    time.sleep(0.2)  # one unit of work: the handler only asks the loop to end after it
print("arrêt propre, code de sortie 0", flush=True)
sys.exit(0)
