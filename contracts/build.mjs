// Compiles contracts/src/*.sol with solc-js (npm `solc`, no compiler download) and OpenZeppelin from
// node_modules, writing one artifact per contract to contracts/out/<Name>.json: { abi, bytecode, deployedBytecode,
// compiler }. The artifacts are committed so that Rust crates build without Node; `--check` recompiles and fails
// if the committed artifacts differ from what the sources produce (the test command runs it).
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const srcDir = join(here, 'src');
const outDir = join(here, 'out');
const check = process.argv.includes('--check');

const sources = {};
for (const file of readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[`src/${file}`] = { content: readFileSync(join(srcDir, file), 'utf8') };
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    viaIR: true,
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: Object.fromEntries(
      Object.keys(sources).map((f) => [f, { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] }]),
    ),
  },
};

function findImports(path) {
  for (const base of [join(root, 'node_modules'), here]) {
    const full = join(base, path);
    if (existsSync(full)) return { contents: readFileSync(full, 'utf8') };
  }
  return { error: `import not found: ${path} (run npm ci)` };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const problems = output.errors ?? [];
for (const p of problems) console.error(p.formattedMessage);
if (problems.some((p) => p.severity === 'error')) {
  console.error('contracts: compilation failed');
  process.exit(1);
}

mkdirSync(outDir, { recursive: true });
const version = solc.version();
let stale = [];
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    const artifact = {
      contractName: name,
      sourceName: file,
      compiler: `solc ${version}`,
      abi: c.abi,
      bytecode: { object: `0x${c.evm.bytecode.object}` },
      deployedBytecode: { object: `0x${c.evm.deployedBytecode.object}` },
    };
    const text = `${JSON.stringify(artifact, null, 2)}\n`;
    const path = join(outDir, `${name}.json`);
    if (check) {
      if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(name);
    } else {
      writeFileSync(path, text);
    }
  }
}
if (stale.length) {
  console.error(`contracts: committed artifacts differ from the sources for ${stale.join(', ')}; run node contracts/build.mjs`);
  process.exit(1);
}
console.log(`contracts: ${check ? 'artifacts up to date' : 'compiled'} with solc ${version}`);
