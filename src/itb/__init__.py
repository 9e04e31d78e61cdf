"""ITB: open software for intrathecal baclofen pump therapy.

For education, planning and research. Not a certified medical device.
"""

__version__ = "0.1.0"
