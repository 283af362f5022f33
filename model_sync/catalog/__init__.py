"""The offering schema, exact prices, storage and merging of the combined catalog."""
