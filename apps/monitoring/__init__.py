"""The portal's monitoring page: the apps' quality over days, from what their stores keep."""
