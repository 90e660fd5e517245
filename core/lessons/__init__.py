"""Guided lessons and exercises of every lab: `LESSONS` by the page's link name, `EXERCISES` by id."""

from __future__ import annotations

from core.lessons import gradients, images, multitask, optimizers, overfitting, sequences
from core.lessons.model import Exercise, Lesson, Reveal, Step, Verdict, evaluate, reveal
from core.registry import Registry

LESSONS: Registry[Lesson] = Registry("lesson")
EXERCISES: Registry[Exercise] = Registry("exercise")
for _lab in (gradients, optimizers, images, multitask, sequences, overfitting):
    LESSONS.add(_lab.LAB, _lab.LESSON)
    for _exercise in _lab.EXERCISES:
        EXERCISES.add(_exercise.id, _exercise)


def exercises_of(lab: str) -> list[Exercise]:
    """The exercises of one lab (by its link name), in the order they are offered."""
    return [exercise for _, exercise in EXERCISES.items() if exercise.lab == lab]


__all__ = [
    "EXERCISES",
    "LESSONS",
    "Exercise",
    "Lesson",
    "Reveal",
    "Step",
    "Verdict",
    "evaluate",
    "exercises_of",
    "reveal",
]
