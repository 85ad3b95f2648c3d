"""The capture stage: fetching (plain HTTP and Chromium), credentials, the network policy, WARC writing, and the capture run that records what it fetched."""
