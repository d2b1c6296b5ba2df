provider "azurerm" {
  features = {}
}
