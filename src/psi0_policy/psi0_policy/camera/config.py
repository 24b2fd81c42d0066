"""Parameters of the camera node (the `camera_node` ROS parameters, validated)."""
from __future__ import annotations

from dataclasses import dataclass

from psi0_common import topics
from psi0_common.config import ConfigError, param, validate

SOURCES = ("sim", "realsense", "bag")
RESIZE_MODES = ("resize", "crop_resize", "none")


@dataclass(frozen=True)
class CameraConfig:
    source: str = param("sim", "Where images come from: the simulator's render (sim), a RealSense camera "
                        "(realsense, pyrealsense2), or a recorded rosbag2 (bag, sqlite3 or mcap).", choices=SOURCES)
    output_width: int = param(320, "Width (px) of the published image (the policy's input).", low=8, high=4096)
    output_height: int = param(240, "Height (px) of the published image (the policy's input).", low=8, high=4096)
    resize_mode: str = param("resize", "resize: scale to the output size; crop_resize: centre-crop to the "
                             "output aspect ratio, then scale; none: publish the source size.",
                             choices=RESIZE_MODES)
    crop: list[int] = param([0, 0, 0, 0], "Optional crop [x, y, width, height] (px of the source image) applied "
                            "before resizing; a zero width or height = no crop.")
    frame_id: str = param("", "frame_id of the published image; empty = the source's.")
    sim_image_topic: str = param(topics.SIM_IMAGE, "sim source: image topic to subscribe.")
    sim_info_topic: str = param(topics.SIM_CAMERA_INFO, "sim source: CameraInfo topic to subscribe.")
    realsense_serial: str = param("", "realsense source: serial number of the camera; empty = the first found.")
    realsense_width: int = param(640, "realsense source: colour stream width (px).", low=160, high=1920)
    realsense_height: int = param(480, "realsense source: colour stream height (px).", low=120, high=1080)
    realsense_fps: int = param(30, "realsense source: colour stream rate (Hz).", choices=(6, 15, 30, 60))
    bag_path: str = param("", "bag source: rosbag2 directory (or .mcap/.db3 file's directory).")
    bag_topic: str = param("", "bag source: sensor_msgs/Image topic; empty = the only Image topic in the bag.")
    bag_rate: float = param(1.0, "bag source: playback speed (1 = recorded timing).", low=0.01, high=100.0)
    bag_loop: bool = param(False, "bag source: start over at the end instead of stopping.")
    bag_restamp: bool = param(True, "bag source: stamp frames with the replay time (keeping their spacing); "
                              "false keeps the recorded capture stamps.")

    def __post_init__(self):
        validate(self)
        if len(self.crop) != 4 or min(self.crop) < 0:
            raise ConfigError(f"CameraConfig.crop: expected [x, y, width, height], all >= 0 "
                              f"(zero size = no crop), got {self.crop}")
        if self.source == "bag" and not self.bag_path:
            raise ConfigError("CameraConfig.bag_path: required when source is 'bag'")
