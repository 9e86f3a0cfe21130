ngx.header.content_type = "application/json"
ngx.exit(201)
