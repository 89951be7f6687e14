/* The two tools of DESIGN.md section 3: their schemas and their calls. */
#ifndef BROKERD_TOOLS_H
#define BROKERD_TOOLS_H

#define TOOL_EXECUTE "auth.graph.operation.execute.v1"
#define TOOL_DESCRIBE "auth.graph.token.describe.v1"

#endif
