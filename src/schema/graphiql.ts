/** What GraphiQL opens with: one example of each operation of this API. */
export const GRAPHIQL_DEFAULT_QUERY = `# rdev-api: run commands in claudebox workspaces and watch their output.
# Pick an operation with the ▶ button's menu. Subscriptions stream over graphql-sse.

query Projects {
  projects { id status statusMessage pod workspace }
}

mutation RunShell {
  runShell(input: { projectId: "demo", command: "ls -la && git log --oneline | head" }) {
    id status argv
  }
}

mutation RunGit {
  runGit(input: { projectId: "demo", args: ["status", "--short"] }) { id status }
}

mutation RunClaude {
  runClaude(input: { projectId: "demo", prompt: "What is in this project?" }) { id status }
}

# Paste the id a mutation returned.
subscription Watch {
  commandEvents(id: "PASTE-COMMAND-ID") {
    __typename
    ... on CommandOutput { seq stream text }
    ... on ClaudeMessage { seq type text toolName }
    ... on CommandCompleted { seq status exitCode durationMs error }
  }
}

subscription ProjectActivity {
  projectEvents(projectId: "demo") {
    __typename
    ... on CommandStatusChanged { commandId status }
    ... on ProjectCommandEvent { commandId event { __typename ... on CommandOutput { text } } }
    ... on ProjectStatusChanged { projectStatus statusMessage }
  }
}

query RecentCommands {
  commands(first: 10) {
    edges { cursor node { id kind status exitCode durationMs argv output { seq stream text } } }
    pageInfo { hasNextPage endCursor }
  }
}

mutation Cancel {
  cancelCommand(id: "PASTE-COMMAND-ID") { id status }
}
`;
