"""Many agents: claims and leases, number reservations, renumbering, the scheduler, landed
work. Imports every layer below views/.
"""
