// Resolves a bundle's mcp_config exactly as an MCPB host does, with the
// bundler's own host library (getMcpConfigForManifest from @anthropic-ai/mcpb).
// Usage: node resolve_mcp_config.mjs NPM_PREFIX EXTENSION_DIR USER_CONFIG_JSON HOME
// Prints the resolved {command, args, env} as JSON on stdout.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, sep } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, extensionPath, userConfigJson, home] = process.argv.slice(2);
const require = createRequire(join(prefix, "package.json"));
const mcpb = await import(pathToFileURL(require.resolve("@anthropic-ai/mcpb")).href);
const manifest = JSON.parse(readFileSync(join(extensionPath, "manifest.json"), "utf8"));
const config = await mcpb.getMcpConfigForManifest({
  manifest,
  extensionPath,
  systemDirs: {
    HOME: home,
    DESKTOP: join(home, "Desktop"),
    DOCUMENTS: join(home, "Documents"),
    DOWNLOADS: join(home, "Downloads"),
  },
  userConfig: JSON.parse(userConfigJson),
  pathSeparator: sep,
});
if (config === undefined) {
  console.error("getMcpConfigForManifest returned nothing (missing required user_config?)");
  process.exit(1);
}
process.stdout.write(JSON.stringify(config));
