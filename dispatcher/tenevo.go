package dispatcher

import "github.com/labstack/echo/v4"

// tenevo serves a Tenevo /messages/gateways route: okStatus on success (201 create, 200 read
// and update, 204 delete), errors as {"errors":[{"field":..,"message":..}]} with 400, 401,
// 403, 404, 429 or 500. The :gateway and :method path segments become the gateway and method
// parameters.
func (h *HTTP) tenevo(command string, okStatus int) echo.HandlerFunc {
	return h.rest("tenevo", command, okStatus, nil)
}
