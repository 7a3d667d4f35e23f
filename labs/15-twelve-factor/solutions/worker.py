"""labs/15-twelve-factor/exercice/worker.py, solved: a worker that handles SIGTERM.

The handler only asks the loop to end; the loop finishes its unit of work, and the
process exits 0 (factor IX: a clean stop, well before pyker stop's SIGKILL).
"""

import signal
import sys
import time

running = True


def on_sigterm(signum, frame):
    global running
    print("SIGTERM reçu : fin de la tâche en cours", flush=True)
    running = False


signal.signal(signal.SIGTERM, on_sigterm)
print("worker prêt", flush=True)
while running:
    time.sleep(0.2)  # one unit of work
print("arrêt propre", flush=True)
sys.exit(0)
