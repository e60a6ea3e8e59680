#!/usr/bin/env node
import { runService } from './run.js';

void runService(process.env);
