"""The boundary-matching solver: edge measures, candidates, loops, merging, placement, refinement.

May import ``fragments.bags``, ``fragments.learned`` (the learned edge measure), ``data``, ``runs`` and ``errors``.
The estimator is ``fragment_solver.FragmentSolver``; ``solve.solve_fragment_folder`` runs it on files.
This ``__init__`` imports nothing, so importing one part of the solver never imports the rest.
"""
