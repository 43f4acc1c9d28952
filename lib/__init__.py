"""Shared helpers that belong to no app: any app may import them; they import no app."""
