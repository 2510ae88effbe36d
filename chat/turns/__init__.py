"""A turn: one upstream streaming response, accumulated, relayed and saved."""
