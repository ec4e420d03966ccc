"""Appointments (预约), remote tickets (远程取号) and the mini-program's customers.

``rules`` holds the booking rules and refusals with no I/O; ``app.db.bookings`` stores slots and
bookings (capacity is enforced by the store); ``checkin`` turns a booking into a ticket through
the hall runtime; ``jobs`` runs the background work (no-shows, notifications, retention).
"""
