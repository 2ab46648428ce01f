"""On-premises Active Directory: user objects and their administration."""
