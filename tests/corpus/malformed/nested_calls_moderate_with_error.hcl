locals {
  x = upper(lower(upper(lower(nosuchfn(1)))))
}
