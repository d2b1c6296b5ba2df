slipway {
  extends = "/etc"
}
