resource "tls_private_key" "k" {
  algorithm = "ED25519"
}

resource "tls_self_signed_cert" "c" {
  private_key_pem       = tls_private_key.k.private_key_pem
  validity_period_hours = 12
  allowed_uses          = ["cert_signing"]

  subject {
    common_nmae = "x"
  }
}
