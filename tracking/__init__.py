"""Trajectory algorithms for transit trucks: stops, loitering, jumps, gaps, corridor deviation, rendezvous."""
