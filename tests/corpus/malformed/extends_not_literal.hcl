slipway {
  extends = "${path.module}/../base"
}
