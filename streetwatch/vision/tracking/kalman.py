"""Constant-velocity Kalman filter of image boxes, state (cx, cy, w, h, vcx, vcy, vw, vh).

After Ultralytics' BOT-SORT (``KalmanFilterXYWH`` and ``multi_gmc``), AGPL-3.0. The arithmetic is
Ultralytics' own, operation for operation, so that tracks come out bit-identical: the noise of every
step is proportional to the box's current width and height (1/20 of the size for positions, 1/160
for velocities), one step per sampled frame, and the box is observed directly (no velocities).

All functions are pure: they take and return arrays (one track's ``mean`` 8-vector and 8x8
``covariance``, or stacks of them) and never modify their arguments.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160
MOTION = np.eye(8) + np.eye(8, k=4)   # x' = x + v, one sampled frame per step


def initiate(measurement: npt.NDArray[np.floating]) -> tuple[FloatArray, FloatArray]:
    """A new track's state from its first box (cx, cy, w, h): at rest, uncertain by its size."""
    box = np.asarray(measurement, dtype=np.float64)
    mean = np.r_[box, np.zeros_like(box)]
    std = [
        2 * STD_WEIGHT_POSITION * box[2],
        2 * STD_WEIGHT_POSITION * box[3],
        2 * STD_WEIGHT_POSITION * box[2],
        2 * STD_WEIGHT_POSITION * box[3],
        10 * STD_WEIGHT_VELOCITY * box[2],
        10 * STD_WEIGHT_VELOCITY * box[3],
        10 * STD_WEIGHT_VELOCITY * box[2],
        10 * STD_WEIGHT_VELOCITY * box[3],
    ]
    return mean, np.diag(np.square(std))


def multi_predict(mean: FloatArray, covariance: FloatArray) -> tuple[FloatArray, FloatArray]:
    """One step ahead for N tracks at once: ``mean`` Nx8, ``covariance`` Nx8x8."""
    std_pos = [
        STD_WEIGHT_POSITION * mean[:, 2],
        STD_WEIGHT_POSITION * mean[:, 3],
        STD_WEIGHT_POSITION * mean[:, 2],
        STD_WEIGHT_POSITION * mean[:, 3],
    ]
    std_vel = [
        STD_WEIGHT_VELOCITY * mean[:, 2],
        STD_WEIGHT_VELOCITY * mean[:, 3],
        STD_WEIGHT_VELOCITY * mean[:, 2],
        STD_WEIGHT_VELOCITY * mean[:, 3],
    ]
    sqr = np.square(np.r_[std_pos, std_vel]).T
    motion_cov = np.zeros((sqr.shape[0], 8, 8))
    motion_cov[:, range(8), range(8)] = sqr
    predicted = np.dot(mean, MOTION.T)
    left = np.dot(MOTION, covariance).transpose((1, 0, 2))
    return predicted, np.dot(left, MOTION.T) + motion_cov


def update(mean: FloatArray, covariance: FloatArray,
           measurement: npt.NDArray[np.floating]) -> tuple[FloatArray, FloatArray]:
    """One track's state corrected by an observed box (cx, cy, w, h)."""
    std = [
        STD_WEIGHT_POSITION * mean[2],
        STD_WEIGHT_POSITION * mean[3],
        STD_WEIGHT_POSITION * mean[2],
        STD_WEIGHT_POSITION * mean[3],
    ]
    projected_mean = mean[:4].copy()
    projected_cov = covariance[:4, :4] + np.diag(np.square(std))
    kalman_gain = np.linalg.solve(projected_cov, covariance[:, :4].T).T
    innovation = measurement - projected_mean
    new_mean = mean + np.dot(innovation, kalman_gain.T)
    new_covariance = covariance - np.linalg.multi_dot((kalman_gain, projected_cov, kalman_gain.T))
    return new_mean, new_covariance


def multi_warp(mean: FloatArray, covariance: FloatArray, affine: FloatArray) -> tuple[FloatArray, FloatArray]:
    """N tracks' states moved by the camera's 2x3 affine (previous-frame pixels -> this frame's).

    Centres and their velocities turn with the affine's linear part and centres shift by its
    translation; widths and heights follow its absolute value (the box enclosing the turned box,
    never a negative size).
    """
    linear = affine[:2, :2]
    r8 = np.kron(np.eye(4, dtype=np.float32), linear)
    r8[2:4, 2:4] = r8[6:8, 6:8] = np.abs(linear)
    moved = np.matmul(r8, mean[..., None])[..., 0]
    moved[:, :2] += affine[:2, 2]
    # A C-contiguous right operand, as Ultralytics does (same BLAS kernel, same rounding).
    return moved, np.matmul(np.matmul(r8, covariance), np.ascontiguousarray(r8.T))
