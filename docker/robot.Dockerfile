# psi0 robot image: full ROS 2 (launch, ros2 bag, cv_bridge, realsense2_camera)
# with Cyclone DDS, and the *upstream* unitree_ros2 interfaces instead of the
# copy in src/unitree_hg (same package name and layout; ours is for sim/CI).
#
# Build (from the repo root):  docker build -f docker/robot.Dockerfile -t psi0-robot .
# Run on the robot computer:   docker run --rm -it --net=host --privileged psi0-robot \
#                                ros2 launch psi0_bringup real.launch.py
# (--net=host: DDS must see the G1's network; --privileged: RealSense USB.)
FROM ros:kilted-ros-base

ENV DEBIAN_FRONTEND=noninteractive \
    RMW_IMPLEMENTATION=rmw_cyclonedds_cpp \
    ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET

RUN apt-get update && apt-get install -y --no-install-recommends \
      ros-kilted-rmw-cyclonedds-cpp ros-kilted-rosbag2-storage-mcap ros-kilted-cv-bridge \
      ros-kilted-realsense2-camera ros-kilted-diagnostic-msgs ros-kilted-std-srvs \
      python3-pip python3-venv git libosmesa6 \
    && rm -rf /var/lib/apt/lists/*

# Upstream Unitree interfaces (unitree_hg, unitree_go, unitree_api).
ARG UNITREE_ROS2_REF=master
RUN git clone --depth 1 --branch ${UNITREE_ROS2_REF} https://github.com/unitreerobotics/unitree_ros2 /opt/unitree_ros2

WORKDIR /opt/psi0
COPY requirements/ requirements/
# Python deps not provided by apt. The robot image uses the distro's rclpy and
# message packages, so the ros-* wheels of the lock file are filtered out.
RUN grep -v -E '^(ros-|colcon|cmake==)' requirements/lock.txt > /tmp/req.txt \
    && pip3 install --break-system-packages --no-cache-dir -r /tmp/req.txt

COPY src/ src/
COPY training/ training/
# Our unitree_hg copy must not shadow upstream's.
RUN touch src/unitree_hg/COLCON_IGNORE \
    && . /opt/ros/kilted/setup.sh \
    && colcon build --base-paths src /opt/unitree_ros2/cyclonedds_ws/src/unitree \
         --packages-up-to psi0_bringup unitree_hg \
    && pip3 install --break-system-packages --no-deps -e training

RUN printf 'source /opt/ros/kilted/setup.bash\nsource /opt/psi0/install/setup.bash\n' >> /root/.bashrc
ENTRYPOINT ["/bin/bash", "-c", "source /opt/ros/kilted/setup.bash && source /opt/psi0/install/setup.bash && exec \"$@\"", "--"]
CMD ["ros2", "launch", "psi0_bringup", "real.launch.py"]
