"""Parameters of the policy node (ROS-free; declared by policy_node.py, checked by `psi0 launch`)."""
from __future__ import annotations

from dataclasses import dataclass

from psi0_common.config import param, validate


@dataclass(frozen=True)
class PolicyNodeConfig:
    checkpoint: str = param("", "Checkpoint directory (model.safetensors + config.json + norm_stats.json). Empty = a "
                                "RANDOMLY INITIALISED model of `model_size`, for smoke runs only (its actions mean nothing).",
                            read_only=True)
    model_size: str = param("tiny", "Size of the random model used when `checkpoint` is empty.", choices=("tiny", "small", "mid"))
    device: str = param("cpu", "Torch device for inference.", choices=("cpu", "cuda"))
    dtype: str = param("", "Override the checkpoint's dtype (empty = as saved; bfloat16 on CUDA for full).",
                       choices=("", "float32", "bfloat16", "float16"))
    mode: str = param("rtc", "Chunk execution: rtc (real-time chunking), naive (switch on arrival), sync (stop and think).",
                      choices=("rtc", "naive", "sync"))
    control_hz: float = param(30.0, "Action publishing rate (Hz); Psi0 runs at 30.", low=1.0, high=200.0)
    s_min: int = param(15, "Minimum execution horizon: start the next inference after this many steps.", low=1, high=1000)
    delay_buffer: int = param(6, "Number of recent measured delays; d = their maximum.", low=1, high=100)
    initial_delay: int = param(6, "Delay estimate (control steps) before any is measured.", low=0, high=1000)
    max_delay: int = param(0, "Trained maximum delay; prefixes are clamped to max_delay - 1 with a warning. 0 = the "
                           "checkpoint's (train_config.json max_delay; 8, the Psi0 value, when it has none).", low=0,
                           high=1000)
    flow_steps: int = param(8, "Euler steps per chunk (0 = the checkpoint's default).", low=0, high=100)
    task: str = param("", "Initial language instruction (also set by the task topic or the set_task service).")
    max_image_age: float = param(0.5, "Images older than this (s, by receive time) do not start a chunk.", low=0.01,
                                 high=60.0)
    max_state_age: float = param(0.25, "Robot state older than this (s) does not start a chunk.", low=0.01, high=60.0)
    base_height_source: str = param("command", "Base-height state entry: command (last commanded height, nominal "
                                    "before the first) or nominal (0.75 m).", choices=("command", "nominal"))
    control_rt_priority: int = param(0, "SCHED_FIFO priority of the 30 Hz control thread (0 = normal scheduling; "
                                     "needs CAP_SYS_NICE, refused -> warning and normal scheduling).", low=0, high=99)
    inference_process: bool = param(False, "Run the model in a spawned child process so inference never holds the "
                                    "control thread's GIL (costs a few seconds at configure).")
    torch_threads: int = param(1, "CPU intra-op threads for inference (0 = torch default). 1 leaves a core for the "
                               "control thread and ROS on small machines.", low=0, high=256)
    min_latency: float = param(0.0, "Use each chunk no earlier than this long (s) after its request: emulates a "
                               "slower computer's timing for experiments (0 = as soon as it is ready).",
                               low=0.0, high=5.0)
    warmup_runs: int = param(2, "Inferences run at configure to warm up (excluded from delay estimates).", low=0, high=20)
    autostart: bool = param(True, "Configure and activate on start-up (no lifecycle manager needed).")
    seed: int = param(0, "Seed of the flow noise (and of the random smoke model).", low=0, high=2**31 - 1)
    status_hz: float = param(1.0, "Rate of status and diagnostics messages (also sent with every chunk).", low=0.1,
                             high=50.0)

    def __post_init__(self):
        validate(self)


PSI0_MAX_DELAY = 8  # the Psi0 paper's trained maximum delay


def resolve_max_delay(requested: int, trained: int | None) -> tuple[int, str]:
    """The RTC max delay to run with, and a warning ('' if none). requested 0 = the checkpoint's trained value
    (PSI0_MAX_DELAY when unknown). A request above the trained value is honoured but warned about: the model
    would be given prefixes longer than any it saw in training."""
    if requested == 0:
        if trained == 0:  # plain flow matching: the model never saw a clean prefix, so give it none
            return 1, "the checkpoint was trained without RTC prefixes (max_delay 0): chunks start without a prefix"
        return (trained or PSI0_MAX_DELAY), ""
    if trained and requested > trained:
        return requested, (f"max_delay {requested} exceeds the checkpoint's trained max_delay {trained}: prefixes "
                           f"of {trained}..{requested - 1} actions were never seen in training")
    return requested, ""
