# psi0 training image: the ROS-free offline pipeline (convert, train, eval) on
# a CUDA machine. No ROS inside: bags are read with the pure-Python rosbags.
#
# Build:  docker build -f docker/training.Dockerfile -t psi0-train .
# Train:  docker run --gpus all --rm -v $PWD/data:/data psi0-train \
#           psi0 train full --dataset /data/my_dataset --out /data/runs/full
FROM pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime

WORKDIR /opt/psi0
COPY requirements/ requirements/
# torch comes with the base image (CUDA build); everything else from the lock,
# minus ROS wheels, the simulator and the IK stack.
RUN grep -v -E '^(ros-|colcon|cmake==|torch==|mujoco|pin|cmeel|coal|eigenpy|libpinocchio|libcoal|daqp|qpsolvers)' \
      requirements/lock.txt > /tmp/req.txt \
    && pip install --no-cache-dir -r /tmp/req.txt

COPY src/psi0_common src/psi0_common
COPY src/psi0_policy src/psi0_policy
COPY src/psi0_bringup src/psi0_bringup
COPY training/ training/
# psi0_bringup brings the `psi0` command; its convert/train subcommands are ROS-free.
RUN pip install --no-cache-dir --no-deps -e src/psi0_common -e src/psi0_policy -e src/psi0_bringup -e training

CMD ["psi0", "--help"]
