"""Collaborative models in torch, one file each, behind one interface (base.Recommender)."""
