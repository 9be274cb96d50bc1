"""Where a node process's CPU goes, without py-spy: per-thread CPU clocks attributed to Python stacks.

Put this directory on PYTHONPATH and set ``TCFD_CPU_PROFILE_DIR``; every tcfd_ros node process
started then (``bringup --processes``, ``graph_throughput.py --processes``) runs a sampler thread
that, every ``SAMPLE_S``, reads each thread's CPU clock (``pthread_getcpuclockid``) and adds the CPU
it used since the last sample to that thread's current Python stack. At exit it writes
``<dir>/<pid>.json``: process CPU, and the top functions by self and inclusive CPU seconds, and per
thread (the executor's ``rclpy.spin`` vs the node's worker). Summarise with ``summary.py``.

CPU spent between two samples is charged to the stack of the second one, so short work just before a
thread blocks shows up under the blocking call (``executors.py:_wait_for_ready_callbacks``,
``threading.py:wait``): read those as "the executor's message handling" and "the handler's tail".
The sampler costs a few percent of one core; compare runs made with it, not with runs made without.

    TCFD_CPU_PROFILE_DIR=out/prof PYTHONPATH=$PWD:$PWD/benchmarks/thread_cpu \\
        .venv/bin/python benchmarks/graph_throughput.py --rates 1 --processes --backend onnx
    .venv/bin/python benchmarks/thread_cpu/summary.py out/prof
"""

import os
import sys

SAMPLE_S = 0.002
TOP = 80

if os.environ.get("TCFD_CPU_PROFILE_DIR") and any("_node" in a for a in sys.argv):
    import atexit
    import collections
    import json
    import threading
    import time

    _self: collections.Counter = collections.Counter()
    _inc: collections.Counter = collections.Counter()
    _thread: collections.Counter = collections.Counter()
    _running = [True]

    def _name(frame) -> str:
        return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"

    def _sample() -> None:
        me = threading.get_ident()
        last: dict[int, float] = {}
        while _running[0]:
            time.sleep(SAMPLE_S)
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                try:
                    cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except (OSError, ValueError):
                    continue
                used = cpu - last.get(ident, cpu)
                last[ident] = cpu
                if used <= 0.0:
                    continue
                stack = []
                while frame is not None:
                    stack.append(_name(frame))
                    frame = frame.f_back
                _self[stack[0]] += used
                for name in set(stack):
                    _inc[name] += used
                _thread[" > ".join(stack[-3:][::-1])] += used

    def _dump() -> None:
        _running[0] = False
        path = os.path.join(os.environ["TCFD_CPU_PROFILE_DIR"], f"{os.getpid()}.json")
        with open(path, "w") as f:
            json.dump({"argv": sys.argv, "process_cpu_s": time.process_time(),
                       "self": _self.most_common(TOP), "inclusive": _inc.most_common(TOP),
                       "thread_roots": _thread.most_common(20)}, f, indent=0)

    atexit.register(_dump)
    threading.Thread(target=_sample, daemon=True, name="tcfd-cpu-sampler").start()
