"""camera_node over real rclpy: sim pass-through and resize, capture stamps kept, bad input dropped."""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from psi0_common import topics  # noqa: E402
from psi0_policy.camera_node import CameraNode  # noqa: E402
from psi0_common.testing import wait_for  # noqa: E402

pytestmark = pytest.mark.ros


def sim_image(w, h, stamp_ns, encoding="rgb8"):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2, 0] = 255                       # left half red, right half blue
    img[:, w // 2:, 2] = 255
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=w * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = "head_camera_color_optical_frame"
    msg.data = img.tobytes()
    return msg


@pytest.mark.parametrize("params, out_size", [
    ([Parameter("output_width", value=160), Parameter("output_height", value=120)], (160, 120)),
    ([Parameter("resize_mode", value="none")], (320, 240)),
])
def test_sim_source_resizes_and_keeps_capture_stamps(rclpy_context, params, out_size):
    node = CameraNode(context=rclpy_context, parameter_overrides=[Parameter("source", value="sim"), *params])
    probe = rclpy.create_node("camera_probe", context=rclpy_context)
    ex = MultiThreadedExecutor(num_threads=2, context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    threading.Thread(target=ex.spin, daemon=True).start()
    images, infos = [], []
    probe.create_subscription(Image, topics.IMAGE, images.append, qos_profile_sensor_data)
    probe.create_subscription(CameraInfo, topics.CAMERA_INFO, infos.append, qos_profile_sensor_data)
    pub_img = probe.create_publisher(Image, topics.SIM_IMAGE, qos_profile_sensor_data)
    pub_info = probe.create_publisher(CameraInfo, topics.SIM_CAMERA_INFO, qos_profile_sensor_data)
    info = CameraInfo(width=320, height=240)
    info.k = [277.0, 0.0, 160.0, 0.0, 277.0, 120.0, 0.0, 0.0, 1.0]
    stamp = 1_700_000_000_123_456_789
    try:
        assert wait_for(lambda: pub_img.get_subscription_count() > 0)
        for _ in range(100):
            pub_info.publish(info)
            pub_img.publish(sim_image(320, 240, stamp))
            if wait_for(lambda: images and infos and infos[-1].k[0] > 0, 0.1):
                break
        assert images, "no image on the camera node's output"
        out = images[-1]
        assert (out.width, out.height, out.encoding) == (*out_size, "rgb8")
        assert out.header.stamp.sec * 10**9 + out.header.stamp.nanosec == stamp
        arr = np.frombuffer(bytes(out.data), np.uint8).reshape(out.height, out.width, 3)
        assert arr[0, 0].tolist() == [255, 0, 0] and arr[0, -1].tolist() == [0, 0, 255]
        scale = out_size[0] / 320
        assert infos[-1].k[0] == pytest.approx(277.0 * scale) and infos[-1].width == out_size[0]

        n = len(images)
        pub_img.publish(sim_image(320, 240, stamp, encoding="mono16"))   # unsupported: dropped, counted
        assert wait_for(lambda: node.errors > 0)
        assert len(images) == n
    finally:
        node.close()
        ex.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_realsense_source_without_camera_exits_2_naming_the_device():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "psi0_policy.camera_node", "--ros-args", "-p", "source:=realsense",
                           "-p", "realsense_serial:='000011112222'"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr     # (a numeric serial must be quoted, or ROS reads an int)
    assert "realsense source" in proc.stderr and "000011112222" in proc.stderr
