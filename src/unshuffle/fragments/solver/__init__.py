"""The boundary-matching solver: edge measures, candidates, loops, merging, placement, refinement.

May import ``fragments.bags``, ``fragments.learned`` (the learned edge measure), ``data``, ``runs`` and ``errors``.
"""

from unshuffle.fragments.solver.fragment_solver import MEASURES, PLACERS, FragmentSolver
from unshuffle.fragments.solver.solve import solve_fragment_folder

__all__ = ["MEASURES", "PLACERS", "FragmentSolver", "solve_fragment_folder"]
