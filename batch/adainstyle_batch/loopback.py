# SPDX-License-Identifier: MIT
"""A Ray cluster of several nodes on one machine's loopback, for the tests and the benchmark.

    python -m adainstyle_batch.loopback --nodes 2 --cpus 1 -- COMMAND...

Starts a head and ``nodes - 1`` more nodes on 127.0.0.1 (each with ``cpus`` CPUs and a small
object store), runs COMMAND with ``RAY_ADDRESS`` set to the head, stops Ray whatever happens and
exits with COMMAND's status. Ray 2.60 binds to the machine's network interface even when given
``--node-ip-address=127.0.0.1``; run this in a network namespace of its own
(``unshare -n -p -f --mount-proc --kill-child``) so only loopback exists and every process it
starts dies with it.
"""

import argparse
import os
import subprocess
import sys
from contextlib import contextmanager

PORT = 6390


def _ray(*args, env, cwd=None):
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    proc = subprocess.run([ray, *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed:\n{proc.stdout[-3000:]}")


def environment(base=None) -> dict:
    """The environment of every process of a test cluster (nodes and drivers alike): no usage
    statistics, and no token authentication, whatever a token file a Ray run outside left in
    ~/.ray (the cluster is reachable only inside its own network namespace)."""
    return dict(os.environ if base is None else base, RAY_USAGE_STATS_ENABLED="0",
                RAY_AUTH_MODE="disabled")


@contextmanager
def cluster(nodes: int, cpus: int, object_store_mb: int = 80, env=None, cwd=None):
    """Yields the head's address while ``nodes`` nodes run on 127.0.0.1 (started in the folder
    ``cwd``, default the current one); stops them after."""
    env = environment(env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    node = ["--num-cpus", str(cpus), "--object-store-memory", str(object_store_mb << 20),
            "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    address = f"127.0.0.1:{PORT}"
    try:
        _ray("start", "--head", "--port", str(PORT), "--include-dashboard=false",
             "--temp-dir", f"/tmp/ray-adainstyle-{os.getpid()}", *node, env=env, cwd=cwd)
        for _ in range(nodes - 1):
            _ray("start", "--address", address, *node, env=env, cwd=cwd)
        yield address
    finally:
        ray = os.path.join(os.path.dirname(sys.executable), "ray")
        subprocess.run([ray, "stop", "--force"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs of each node")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command")
    with cluster(args.nodes, args.cpus) as address:
        code = subprocess.call(command, env=dict(environment(), RAY_ADDRESS=address))
    sys.exit(code)


if __name__ == "__main__":
    main()
